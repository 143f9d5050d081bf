package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"log"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configures a Cluster.
type Options struct {
	Client  redis.UniversalClient // a *redis.Client, or a *redis.ClusterClient with Sharded
	Sharded bool                  // sharded pub/sub (Redis Cluster)
	Key     string                // channel prefix ("socket.io", the Redis adapter's)
	NodeID  string                // this node's id (random)
	// Advertise is where the other nodes reach this node's client listener (host:port), to
	// forward it the requests of its sessions that reach them ("": they cannot).
	Advertise string

	Heartbeat   time.Duration // how often a node says it is alive (1 s)
	NodeTimeout time.Duration // a node silent this long is down (5 s)
	QueueSize   int           // publishes waiting for Redis before new ones are dropped (65,536)

	// PatternRooms is a prefix of room names (of the main namespace "/") that a node
	// receives through one pattern subscription of its own (PSUBSCRIBE) rather than one
	// subscription per room: for rooms that each have few members but are many, such as
	// the chat's personal rooms ("user:"). A broadcast to such a room reaches every node,
	// which drops it unread where the room has no member. Ignored with Sharded: sharded
	// pub/sub has no patterns.
	PatternRooms string

	OnPeerMessage func(node string, msg []byte) // another node's peer message
	OnNodeUp      func(node string)             // a node appeared (or Redis came back: ""): resend state
	OnNodeDown    func(node string)             // a node left or timed out
	Logf          func(format string, args ...any)
}

func (o *Options) fill() {
	if o.Key == "" {
		o.Key = "socket.io"
	}
	if o.NodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.NodeID = hex.EncodeToString(b[:])
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = 5 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1 << 16
	}
	if o.OnPeerMessage == nil {
		o.OnPeerMessage = func(string, []byte) {}
	}
	if o.OnNodeUp == nil {
		o.OnNodeUp = func(string) {}
	}
	if o.OnNodeDown == nil {
		o.OnNodeDown = func(string) {}
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
}

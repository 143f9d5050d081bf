package engine

import (
	"net/netip"
	"time"

	"edgeio/server/security"
)

// Options configures a Server. The zero value of a field takes Socket.IO's default.
type Options struct {
	Path              string        // "/engine.io/" by default
	PingInterval      time.Duration // 25 s
	PingTimeout       time.Duration // 20 s
	UpgradeTimeout    time.Duration // 10 s
	MaxPayload        int           // 1,000,000 bytes
	AllowEIO3         bool
	CompressThreshold int // bytes; smaller messages and responses go uncompressed (1024)
	NoCompression     bool
	ReadBufferSize    int // a WebSocket's read buffer where no epoll loop reads it (1024)
	MaxBuffered       int // bytes queued for one client before it counts as too slow (4 MiB)
	MaxQueued         int // writes (WebSocket) or packets (polling) queued for one client, the same (10,000)

	// RefusalBacklog bounds the refused handshakes held open at once to tell their clients
	// why (refusal.go); past it a refusal is a bare HTTP status (1024).
	RefusalBacklog int

	// MaxForwards bounds the requests forwarded to the other nodes of a cluster and not
	// answered yet (forward.go): polls waiting there, POSTs, upgrades. Past it a request
	// for a session of another node is refused with 503 (10,000; -1: no bound).
	MaxForwards int

	TrustedProxies []netip.Prefix // peers whose X-Forwarded-For names the client
	Gate           *security.Gate // admits new sessions; nil admits all
	Stats          *Stats         // counters; nil keeps none
}

func (o *Options) fill() {
	if o.Path == "" {
		o.Path = "/engine.io/"
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = 10 * time.Second
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 1_000_000
	}
	if o.CompressThreshold <= 0 {
		o.CompressThreshold = 1024
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 1024
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 4 << 20
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 10_000
	}
	if o.RefusalBacklog <= 0 {
		o.RefusalBacklog = 1024
	}
	if o.MaxForwards == 0 {
		o.MaxForwards = 10_000
	}
	if o.Stats == nil {
		o.Stats = &Stats{}
	}
}

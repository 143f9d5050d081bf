package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	gostrings "strings"
	"sync"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/hub"
	"edgeio/hub/store"
	"edgeio/server"
	"edgeio/server/auth"
	"edgeio/server/servertest"

	"github.com/redis/go-redis/v9"
)

var secret = []byte("cluster-test-secret")

const (
	testHeartbeat   = 100 * time.Millisecond
	testNodeTimeout = 500 * time.Millisecond
	// settle is long enough for an echo or a duplicate to have crossed Redis.
	settle = 250 * time.Millisecond
)

// nodeConfig describes one in-process edgeio node.
type nodeConfig struct {
	id      string
	client  redis.UniversalClient // the cluster link's client
	sharded bool
	store   redis.UniversalClient // the message store's client; nil: a memory store
	hub     hub.Options
	server  server.Options
}

// node is an edgeio chat server joined to the others over Redis.
type node struct {
	t   *testing.T
	id  string
	io  *server.Server
	hub *hub.Hub
	cl  *Cluster
	st  store.Store

	logMu sync.Mutex
	logs  []string
}

// startNode builds and starts a node, as main.go's startChat wires one; it is shut down
// when the test ends.
func startNode(t *testing.T, cfg nodeConfig) *node {
	t.Helper()
	n := &node{t: t, id: cfg.id, io: server.New(cfg.server)}
	v, err := auth.NewVerifier(auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n.st, err = store.OpenRedis(ctx, store.RedisOptions{Client: cfg.store})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	} else {
		n.st = store.NewMemory()
	}
	opts := cfg.hub
	if opts.MessagesPerMinute == 0 {
		opts.MessagesPerMinute = -1
	}
	if opts.EventsPerSecond == 0 {
		opts.EventsPerSecond = -1
	}
	n.hub = hub.New(n.st, v, opts)
	n.hub.Install(n.io)
	n.cl = New(n.io, Options{
		Client: cfg.client, Sharded: cfg.sharded, NodeID: cfg.id, PatternRooms: auth.PersonalRoom(""),
		Heartbeat: testHeartbeat, NodeTimeout: testNodeTimeout,
		OnPeerMessage: n.hub.PeerMessage, OnNodeUp: n.hub.PeerUp, OnNodeDown: n.hub.PeerDown,
		Logf: n.logf,
	})
	n.hub.AttachCluster(n.cl)
	n.io.SetAdapter(n.cl)
	n.cl.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = n.io.Shutdown(ctx)
		n.cl.Close()
		n.hub.Close()
		_ = n.st.Close()
	})
	return n
}

func (n *node) logf(format string, args ...any) {
	n.logMu.Lock()
	n.logs = append(n.logs, fmt.Sprintf(format, args...))
	n.logMu.Unlock()
}

func (n *node) logged(part string) bool {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	for _, l := range n.logs {
		if gostrings.Contains(l, part) {
			return true
		}
	}
	return false
}

// connect opens a msgpack socket for user sub on the node.
func (n *node) connect(sub string) *servertest.Client {
	n.t.Helper()
	c, _ := n.connectWith(sub, nil)
	return c
}

// connectWith opens a msgpack socket for user sub with more of a CONNECT's auth payload
// (a recovery's pid and offset), and returns the CONNECT reply's data too.
func (n *node) connectWith(sub string, auth map[string]any) (*servertest.Client, map[string]any) {
	n.t.Helper()
	tok, err := mintToken(sub)
	if err != nil {
		n.t.Fatal(err)
	}
	payload := map[string]any{"token": tok}
	for k, v := range auth {
		payload[k] = v
	}
	c := servertest.Dial(n.t, n.io.Engine(), true)
	p := c.Connect("/", payload)
	if p.Type != codec.SConnect {
		n.t.Fatalf("%s refused on %s: %+v", sub, n.id, p)
	}
	reply, _ := p.Data.(map[string]any)
	return c, reply
}

func mintToken(sub string) (string, error) {
	return auth.Mint(secret, sub, gostrings.ToUpper(sub[:1])+sub[1:], nil, time.Hour)
}

// waitNodes waits until every node knows every other one.
func waitNodes(t *testing.T, nodes ...*node) {
	t.Helper()
	eventually(t, 5*time.Second, "nodes to see each other", func() bool {
		for _, n := range nodes {
			if !n.cl.Ready() {
				return false
			}
			for _, m := range nodes {
				if m != n && !slices.Contains(n.cl.Nodes(), m.id) {
					return false
				}
			}
		}
		return true
	})
}

// eventually polls cond until it holds, failing the test after d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ackOK(t testing.TB, ack []any) map[string]any {
	t.Helper()
	m, _ := ack[0].(map[string]any)
	if m["ok"] != true {
		t.Fatalf("ack %v, want ok", ack)
	}
	return m
}

func ackCode(ack []any) string {
	m, _ := ack[0].(map[string]any)
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// presenceOf lists the user ids of get-room-presence's answer (the room-presence event it
// also sends is consumed).
func presenceOf(t testing.TB, c *servertest.Client, room string) map[string]string {
	t.Helper()
	ack := ackOK(t, c.Call("get-room-presence", room))
	c.Event("room-presence")
	out := map[string]string{}
	users, _ := ack["users"].([]any)
	for _, u := range users {
		info, _ := u.(map[string]any)
		id, _ := info["userId"].(string)
		status, _ := info["status"].(string)
		out[id] = status
	}
	return out
}

// waitPresence calls get-room-presence until want holds of its answer.
func waitPresence(t testing.TB, c *servertest.Client, room, what string, want func(map[string]string) bool) {
	t.Helper()
	var last map[string]string
	deadline := time.Now().Add(5 * time.Second)
	for {
		last = presenceOf(t, c, room)
		if want(last) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s presence %v: never %s", room, last, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// once checks that c got the event called name exactly once: it waits for it, lets any
// duplicate arrive, and checks none did. It returns the event's first argument.
func once(t testing.TB, c *servertest.Client, name string) any {
	t.Helper()
	args := c.Event(name)
	time.Sleep(settle)
	c.NoEvent(name)
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

func field(v any, key string) any {
	m, _ := v.(map[string]any)
	return m[key]
}

// TestMain quiets go-redis's own log: the outage tests make it complain on every dial.
func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// newServer is a Socket.IO server with nothing installed, for a bare cluster link.
func newServer(t testing.TB) *server.Server {
	t.Helper()
	io := server.New(server.Options{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = io.Shutdown(ctx)
	})
	return io
}

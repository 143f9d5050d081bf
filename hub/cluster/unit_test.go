package cluster

import (
	"bytes"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/hub/internal/redistest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// deadClient points at a port nothing listens on: every call fails at once.
func deadClient(t testing.TB) *redis.Client {
	t.Helper()
	return newClient(t, "127.0.0.1:"+itoa(redistest.FreePort(t)))
}

func itoa(n int) string { return strconv.Itoa(n) }

// recorder records a cluster's callbacks.
type recorder struct {
	mu    sync.Mutex
	ups   []string
	downs []string
	msgs  []string
	logs  int
}

func (r *recorder) options(client redis.UniversalClient) Options {
	return Options{
		Client: client, NodeID: "me", Heartbeat: testHeartbeat, NodeTimeout: testNodeTimeout,
		OnNodeUp:      func(n string) { r.mu.Lock(); r.ups = append(r.ups, n); r.mu.Unlock() },
		OnNodeDown:    func(n string) { r.mu.Lock(); r.downs = append(r.downs, n); r.mu.Unlock() },
		OnPeerMessage: func(n string, p []byte) { r.mu.Lock(); r.msgs = append(r.msgs, n+":"+string(p)); r.mu.Unlock() },
		Logf:          func(string, ...any) { r.mu.Lock(); r.logs++; r.mu.Unlock() },
	}
}

func (r *recorder) snapshot() (ups, downs, msgs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ups), slices.Clone(r.downs), slices.Clone(r.msgs)
}

func control(t testing.TB, node, kind string, payload []byte) []byte {
	t.Helper()
	m := map[string]any{"n": node, "k": kind}
	if payload != nil {
		m["p"] = payload
	}
	b, err := codec.EncodeMsgpackValue(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOptionsDefaults(t *testing.T) {
	c := New(newServer(t), Options{Client: deadClient(t)})
	defer c.Close()
	o := c.opts
	if o.Key != "socket.io" || len(c.NodeID()) != 16 || o.Heartbeat != time.Second || o.NodeTimeout != 5*time.Second || o.QueueSize != 1<<16 {
		t.Fatalf("defaults: key %q node %q heartbeat %v timeout %v queue %d", o.Key, c.NodeID(), o.Heartbeat, o.NodeTimeout, o.QueueSize)
	}
	if o.OnPeerMessage == nil || o.OnNodeUp == nil || o.OnNodeDown == nil || o.Logf == nil {
		t.Fatal("nil callbacks left")
	}
	o.OnPeerMessage("x", nil) // the defaults do nothing
	o.OnNodeUp("x")
	o.OnNodeDown("x")
	if other := New(newServer(t), Options{Client: deadClient(t)}); other.NodeID() == c.NodeID() {
		t.Fatal("two nodes got the same random id")
	} else {
		other.Close()
	}
	if c.nspChannel("/") != "socket.io#/#" || c.roomChannel("/", "r") != "socket.io#/#r#" || c.controlChannel() != "edgeio#socket.io#nodes" {
		t.Fatalf("channels %q %q %q", c.nspChannel("/"), c.roomChannel("/", "r"), c.controlChannel())
	}
	if c.Ready() {
		t.Fatal("ready before any heartbeat")
	}
}

func TestBackoff(t *testing.T) {
	for attempt, want := range []time.Duration{50, 100, 200, 400, 800, 1600, 2000, 2000, 2000} {
		want *= time.Millisecond
		for i := 0; i < 50; i++ {
			if d := backoff(attempt); d < want/2 || d >= want {
				t.Fatalf("backoff(%d) = %v, want [%v, %v)", attempt, d, want/2, want)
			}
		}
	}
	if backoff(1000) > 2*time.Second {
		t.Fatal("backoff not capped")
	}
	if jitter(0) != 0 || jitter(-5) != 0 {
		t.Fatal("jitter of nothing")
	}
}

// The control protocol: a node is up when first heard from or when it says hello, peer
// messages go to OnPeerMessage, bye and silence take it down.
func TestControlMessages(t *testing.T) {
	var r recorder
	c := New(newServer(t), r.options(deadClient(t)))
	defer c.Close()

	c.onControl([]byte{0xc1})                       // not msgpack
	c.onControl(control(t, "", kindHeartbeat, nil)) // no node
	c.onControl(control(t, "me", kindHello, nil))   // our own
	c.onControl(control(t, "x", kindBye, nil))      // a node we never heard of
	if ups, downs, msgs := r.snapshot(); len(ups)+len(downs)+len(msgs) != 0 || len(c.Nodes()) != 0 {
		t.Fatalf("ups %v downs %v msgs %v nodes %v", ups, downs, msgs, c.Nodes())
	}

	c.onControl(control(t, "a", kindHeartbeat, nil))
	c.onControl(control(t, "a", kindHeartbeat, nil))
	c.onControl(control(t, "b", kindPeer, []byte("state")))
	c.onControl(control(t, "a", kindHello, nil)) // a came back: resend state again
	c.onControl(control(t, "a", kindPeer, nil))
	ups, downs, msgs := r.snapshot()
	if !reflect.DeepEqual(ups, []string{"a", "b", "a"}) || len(downs) != 0 || !reflect.DeepEqual(msgs, []string{"b:state", "a:"}) {
		t.Fatalf("ups %v downs %v msgs %v", ups, downs, msgs)
	}
	nodes := c.Nodes()
	slices.Sort(nodes)
	if !reflect.DeepEqual(nodes, []string{"a", "b"}) {
		t.Fatalf("nodes %v", nodes)
	}

	c.onControl(control(t, "b", kindBye, nil))
	c.onControl(control(t, "b", kindBye, nil)) // once only
	if _, downs, _ := r.snapshot(); !reflect.DeepEqual(downs, []string{"b"}) {
		t.Fatalf("downs %v", downs)
	}

	// a goes silent: expired after the node timeout, not before
	c.expireNodes()
	if _, downs, _ := r.snapshot(); len(downs) != 1 {
		t.Fatalf("a expired early: %v", downs)
	}
	c.mu.Lock()
	c.nodes["a"] = time.Now().Add(-2 * testNodeTimeout)
	c.mu.Unlock()
	c.expireNodes()
	if _, downs, _ := r.snapshot(); !reflect.DeepEqual(downs, []string{"b", "a"}) || len(c.Nodes()) != 0 {
		t.Fatalf("downs %v nodes %v", downs, c.Nodes())
	}

	// forgiveNodes (Redis back) restarts every node's clock
	c.onControl(control(t, "d", kindHeartbeat, nil))
	c.mu.Lock()
	c.nodes["d"] = time.Now().Add(-2 * testNodeTimeout)
	c.mu.Unlock()
	c.forgiveNodes()
	c.expireNodes()
	if len(c.Nodes()) != 1 {
		t.Fatalf("forgiven node expired: %v", c.Nodes())
	}
}

// Nothing a cluster does blocks its caller: with Redis away and the queue full, broadcasts
// and peer messages are dropped and counted.
func TestQueueFullDrops(t *testing.T) {
	var r recorder
	opts := r.options(deadClient(t))
	opts.QueueSize = 1
	c := New(newServer(t), opts) // not started: nothing drains the queue
	defer c.Close()
	c.Publish("/", []string{"r"}, nil, []any{"ev"}, false, "")
	c.Publish("/", []string{"r"}, nil, []any{"ev"}, false, "")
	c.SendPeers([]byte("state"))
	if got := c.Stats().Dropped.Load(); got != 2 {
		t.Fatalf("dropped %d, want 2", got)
	}
}

// A node knows its own broadcasts coming back from Redis by their first bytes, without
// decoding them; another node's, even with an id that starts like its own, it decodes.
func TestOwnEchoKnownUnread(t *testing.T) {
	for _, id := range []string{"me", "a-node-id-of-forty-characters-or-so-long"} {
		var r recorder
		opts := r.options(deadClient(t))
		opts.NodeID = id
		c := New(newServer(t), opts) // not started: the queue keeps what is published
		c.Publish("/", []string{"r"}, nil, []any{"ev", 1.0}, false, "b1")
		own := <-c.queue
		if !bytes.HasPrefix(own.payload, c.echo) {
			t.Fatalf("%s: published %x, echo prefix %x", id, own.payload, c.echo)
		}
		other := New(newServer(t), Options{Client: deadClient(t), NodeID: id + "2"})
		other.Publish("/", []string{"r"}, nil, []any{"ev", 1.0}, false, "b1")
		if theirs := <-other.queue; bytes.HasPrefix(theirs.payload, c.echo) {
			t.Fatalf("%s: %s's broadcast taken for an echo", id, other.NodeID())
		}
		other.Close()
		c.Close()
	}
}

func TestPublishUnencodable(t *testing.T) {
	var r recorder
	c := New(newServer(t), r.options(deadClient(t)))
	defer c.Close()
	c.Publish("/", nil, nil, []any{"ev", make(chan int)}, false, "")
	r.mu.Lock()
	logs := r.logs
	r.mu.Unlock()
	if logs != 1 || len(c.queue) != 0 {
		t.Fatalf("logs %d, queued %d: want the broadcast refused and logged", logs, len(c.queue))
	}
}

// Close is idempotent, also on a cluster that never started or whose Redis is gone, and
// subscription changes after it return at once.
func TestCloseIdempotent(t *testing.T) {
	c := New(newServer(t), Options{Client: deadClient(t), Heartbeat: testHeartbeat, Logf: t.Logf})
	c.Close()
	c.Close()

	c = New(newServer(t), Options{Client: deadClient(t), Heartbeat: testHeartbeat, Logf: func(string, ...any) {}})
	c.Start()
	eventually(t, 2*time.Second, "a failed heartbeat", func() bool { return c.Stats().Errors.Load() > 0 })
	start := time.Now()
	c.Close()
	c.Close()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10000; i++ {
			c.Subscribe("/", itoa(i))
			c.Unsubscribe("/", itoa(i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Subscribe blocked after Close")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Close took %v", took)
	}
}

func gather(t testing.TB, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			out[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}

func TestRegister(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	c := New(newServer(t), Options{Client: newClient(t, r.Addr()), NodeID: "m", Heartbeat: testHeartbeat, Logf: t.Logf})
	reg := prometheus.NewRegistry()
	Register(reg, c)
	got := gather(t, reg)
	want := map[string]float64{"edgeio_redis_up": 0, "edgeio_cluster_nodes": 0, "edgeio_redis_published_total": 0,
		"edgeio_redis_received_total": 0, "edgeio_redis_dropped_total": 0, "edgeio_redis_errors_total": 0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}

	c.Start()
	t.Cleanup(c.Close)
	other := New(newServer(t), Options{Client: newClient(t, r.Addr()), NodeID: "o", Heartbeat: testHeartbeat, Logf: t.Logf})
	other.Start()
	t.Cleanup(other.Close)
	c.Publish("/", nil, nil, []any{"ev"}, false, "")
	eventually(t, 3*time.Second, "metrics to move", func() bool {
		got = gather(t, reg)
		return got["edgeio_redis_up"] == 1 && got["edgeio_cluster_nodes"] == 1 && got["edgeio_redis_published_total"] == 1
	})
	r.Stop()
	eventually(t, 3*time.Second, "edgeio_redis_up to fall", func() bool {
		got = gather(t, reg)
		return got["edgeio_redis_up"] == 0 && got["edgeio_redis_errors_total"] > 0
	})
}

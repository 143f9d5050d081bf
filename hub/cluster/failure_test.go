package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"edgeio/server/servertest"
)

// splitPair is two nodes where node 2 reaches Redis through a proxy the test can cut. Each
// has its own memory store: these tests are about the cluster link.
type splitPair struct {
	*pair
	proxy *proxy
}

func startSplitPair(t *testing.T) *splitPair {
	t.Helper()
	r := startRedis(t)
	px := startProxy(t, r.Addr())
	p := &pair{redis: r, raw: newClient(t, r.Addr())}
	p.n1 = startNode(t, nodeConfig{id: "n1", client: newClient(t, r.Addr())})
	p.n2 = startNode(t, nodeConfig{id: "n2", client: newClient(t, px.Addr())})
	waitNodes(t, p.n1, p.n2)
	return &splitPair{pair: p, proxy: px}
}

// alice on node 1 and bob on node 2 share room r, and each node lists both.
func (p *pair) aliceAndBob(t *testing.T) (alice, bob *servertest.Client) {
	t.Helper()
	alice, bob = p.n1.connect("alice"), p.n2.connect("bob")
	join(t, alice, "r")
	waitSubscribers(t, p.raw, roomChannelOf("r"), 1)
	time.Sleep(settle)
	join(t, bob, "r")
	waitSubscribers(t, p.raw, roomChannelOf("r"), 2)
	once(t, alice, "room-member-joined")
	both := func(m map[string]string) bool { return m["alice"] == "online" && m["bob"] == "online" }
	waitPresence(t, alice, "r", "alice and bob online", both)
	waitPresence(t, bob, "r", "alice and bob online", both)
	return alice, bob
}

// expectBobGone checks that alice hears of bob leaving r and going offline, once each; it
// returns when she heard the first.
func expectBobGone(t *testing.T, alice *servertest.Client) time.Time {
	t.Helper()
	ev := alice.Event("room-member-left")
	heard := time.Now()
	if field(ev[0], "userId") != "bob" || field(ev[0], "roomId") != "r" {
		t.Fatalf("room-member-left %v", ev)
	}
	if ev := alice.Event("presence-update"); field(ev[0], "userId") != "bob" || field(ev[0], "status") != "offline" || field(ev[0], "lastSeen") == nil {
		t.Fatalf("presence-update %v", ev)
	}
	time.Sleep(settle)
	alice.NoEvent("room-member-left")
	alice.NoEvent("presence-update")
	return heard
}

// A node that closes says goodbye: the others drop its users at once.
func TestNodeCloseSaysGoodbye(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	alice, _ := p.aliceAndBob(t)
	start := time.Now()
	p.n2.cl.Close()
	p.n2.cl.Close() // idempotent
	if took := expectBobGone(t, alice).Sub(start); took > testNodeTimeout/2 {
		t.Fatalf("bob left after %v, not at once", took)
	}
	if nodes := p.n1.cl.Nodes(); len(nodes) != 0 {
		t.Fatalf("node 1 still lists %v", nodes)
	}
	waitPresence(t, alice, "r", "bob gone", func(m map[string]string) bool { _, in := m["bob"]; return !in && len(m) == 1 })
}

// A node that goes silent is dropped after the node timeout: its users leave their rooms and
// go offline on the others.
func TestSilentNodeTimesOut(t *testing.T) {
	t.Parallel()
	p := startSplitPair(t)
	alice, _ := p.aliceAndBob(t)

	start := time.Now()
	p.proxy.Cut()
	if took := expectBobGone(t, alice).Sub(start); took < testNodeTimeout-2*testHeartbeat || took > testNodeTimeout+5*testHeartbeat {
		t.Fatalf("bob went offline %v after node 2 went silent (node timeout %v)", took, testNodeTimeout)
	}
	if nodes := p.n1.cl.Nodes(); len(nodes) != 0 {
		t.Fatalf("node 1 still lists %v", nodes)
	}
	waitPresence(t, alice, "r", "bob gone", func(m map[string]string) bool { _, in := m["bob"]; return !in })

	// node 2 notices, and keeps serving its own clients
	eventually(t, 2*time.Second, "node 2 to see Redis is gone", func() bool { return !p.n2.cl.Ready() })
	if !p.n2.logged("Redis unreachable") {
		t.Fatal("node 2 did not log that Redis is unreachable")
	}
	if !slices.Contains(p.n2.cl.Nodes(), "n1") {
		t.Fatal("node 2 dropped node 1 while it could not hear anything")
	}
	if p.n2.cl.Stats().Errors.Load() == 0 {
		t.Fatal("no errors counted on node 2")
	}
}

// A node cut off from Redis that comes back is back for everyone: the others list it and
// its users again, and traffic crosses both ways.
func TestNodeReturnsAfterPartition(t *testing.T) {
	t.Parallel()
	p := startSplitPair(t)
	alice, bob := p.aliceAndBob(t)

	p.proxy.Cut()
	expectBobGone(t, alice)

	p.proxy.Restore()
	eventually(t, 3*time.Second, "node 2 to be ready again", p.n2.cl.Ready)
	waitNodes(t, p.n1, p.n2)
	if !p.n2.logged("Redis is back") {
		t.Fatal("node 2 did not log that Redis is back")
	}
	waitSubscribers(t, p.raw, roomChannelOf("r"), 2)

	// traffic crosses again, both ways
	m1 := send(t, alice, "r", "are you back?")
	for _, c := range []*servertest.Client{alice, bob} {
		if got := once(t, c, "new-message"); field(got, "id") != m1["id"] {
			t.Fatalf("new-message %v, want %v", got, m1)
		}
	}
	m2 := send(t, bob, "r", "yes")
	for _, c := range []*servertest.Client{alice, bob} {
		if got := once(t, c, "new-message"); field(got, "id") != m2["id"] {
			t.Fatalf("new-message %v, want %v", got, m2)
		}
	}

	// node 1 knows bob again (node 2 resent its users), node 2 still knows alice
	waitPresence(t, bob, "r", "alice and bob on node 2", func(m map[string]string) bool {
		return m["alice"] == "online" && m["bob"] == "online"
	})
	waitPresence(t, alice, "r", "bob listed on node 1 again", func(m map[string]string) bool {
		return m["alice"] == "online" && m["bob"] == "online"
	})
}

// While Redis is down each node goes on serving its own clients; when Redis returns the
// nodes find each other again and cross-node delivery resumes. Node 2's pub/sub connection
// is slow to resubscribe after the outage (longer than the node timeout): meanwhile it
// cannot hear node 1, which is no reason to take node 1 for gone.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	px := startProxy(t, r.Addr())
	c1, c2 := newClient(t, r.Addr()), newClient(t, r.Addr())
	p := &pair{redis: r, raw: newClient(t, r.Addr())}
	p.n1 = startNode(t, nodeConfig{id: "n1", client: c1, store: c1})
	p.n2 = startNode(t, nodeConfig{id: "n2", client: newClient(t, px.Addr()), store: c2})
	waitNodes(t, p.n1, p.n2)
	alice, bob := p.aliceAndBob(t)
	carol := p.n1.connect("carol")
	join(t, carol, "r")
	once(t, alice, "room-member-joined")
	once(t, bob, "room-member-joined")

	px.HoldSubscribe(testNodeTimeout + 2*testHeartbeat)
	p.redis.Stop()
	eventually(t, 5*testHeartbeat, "nodes to see Redis is gone", func() bool {
		return !p.n1.cl.Ready() && !p.n2.cl.Ready()
	})

	// local delivery goes on
	ackOK(t, carol.Call("typing-start", "r"))
	if ev := alice.Event("user-typing"); field(ev[0], "userId") != "carol" || field(ev[0], "isTyping") != true {
		t.Fatalf("user-typing %v", ev)
	}
	// the store answers UNAVAILABLE
	ack := alice.Call("send-message", map[string]any{"roomId": "r", "content": "lost?", "clientMsgId": "m1"})
	if ackCode(ack) != "UNAVAILABLE" {
		t.Fatalf("send-message during the outage: %v", ack)
	}
	// a subscription asked for during the outage is made once Redis is back (join-room
	// itself needs the store)
	p.n1.cl.Subscribe("/", "z")
	// broadcasts that cannot be published are eventually given up and counted
	eventually(t, 3*time.Second, "undeliverable broadcasts to be dropped", func() bool {
		return p.n1.cl.Stats().Dropped.Load() > 0
	})
	if !slices.Contains(p.n2.cl.Nodes(), "n1") {
		t.Fatal("node 2 dropped node 1 while Redis was away")
	}

	p.redis.Restart()
	eventually(t, 3*time.Second, "nodes to be ready again", func() bool {
		return p.n1.cl.Ready() && p.n2.cl.Ready()
	})
	waitNodes(t, p.n1, p.n2)
	waitSubscribers(t, p.raw, roomChannelOf("r"), 2)
	waitSubscribers(t, p.raw, roomChannelOf("z"), 1)

	// cross-node delivery resumes: retry the message until it is stored and crosses
	var msg map[string]any
	eventually(t, 5*time.Second, "send-message to succeed", func() bool {
		ack := alice.Call("send-message", map[string]any{"roomId": "r", "content": "back", "clientMsgId": "m1"})
		msg, _ = field(ack[0], "message").(map[string]any)
		return field(ack[0], "ok") == true
	})
	if got := once(t, bob, "new-message"); field(got, "id") != msg["id"] {
		t.Fatalf("new-message %v, want %v", got, msg)
	}
	// nobody was taken for gone: the nodes could not hear each other, they were not silent
	for _, c := range []*servertest.Client{alice, bob} {
		c.NoEvent("room-member-left")
		c.NoEvent("presence-update")
	}
	// presence was exchanged again
	waitPresence(t, bob, "r", "alice, bob and carol online", func(m map[string]string) bool {
		return m["alice"] == "online" && m["bob"] == "online" && m["carol"] == "online"
	})
}

// Subscription changes never block their caller, even while Redis is away (the hub calls
// Subscribe and Unsubscribe holding its lock).
func TestSubscribeDoesNotBlockWhileRedisIsAway(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	raw := newClient(t, r.Addr())
	c := New(newServer(t), Options{Client: newClient(t, r.Addr()), NodeID: "solo", Heartbeat: testHeartbeat, Logf: t.Logf})
	c.Start()
	t.Cleanup(c.Close)
	eventually(t, 2*time.Second, "ready", c.Ready)

	r.Stop()
	eventually(t, 2*time.Second, "Redis gone", func() bool { return !c.Ready() })
	const rooms = 5000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < rooms; i++ {
			c.Subscribe("/", fmt.Sprint("room", i))
		}
	}()
	var blocked bool
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		blocked = true
	}
	r.Restart()
	if blocked {
		<-done // Redis is back: the queue drains
		t.Errorf("%d Subscribe calls blocked while Redis was away", rooms)
	}
	waitSubscribers(t, raw, roomChannelOf(fmt.Sprint("room", rooms-1)), 1)
}

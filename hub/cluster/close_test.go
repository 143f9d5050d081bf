package cluster

import (
	"context"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// A node's bye is the last the others hear of it: what it had queued goes out before, and
// nothing after (else the others take it for alive again until the node timeout).
func TestByeIsLastWord(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	var rec recorder
	o := rec.options(newClient(t, r.Addr()))
	o.NodeID = "n1"
	// what this test is about is the bye, not the timeout: a loaded machine that holds n2's
	// heartbeats back half a second must not take it for gone meanwhile
	o.NodeTimeout = 5 * time.Second
	n1 := New(newServer(t), o)
	n1.Start()
	t.Cleanup(n1.Close)

	n2 := New(newServer(t), Options{Client: newClient(t, r.Addr()), NodeID: "n2", Heartbeat: testHeartbeat, Logf: t.Logf})
	n2.Start()
	eventually(t, 2*time.Second, "n1 to hear n2", func() bool { return len(n1.Nodes()) == 1 })
	for i := 0; i < 2000; i++ { // as when a node closes all its sockets just before Close
		n2.SendPeers([]byte("state"))
	}
	n2.Close()
	time.Sleep(settle)
	if nodes := n1.Nodes(); len(nodes) != 0 {
		t.Errorf("n1 still lists %v after n2's bye", nodes)
	}
	ups, downs, msgs := rec.snapshot()
	if len(ups) != 1 || len(downs) != 1 {
		t.Errorf("n1 saw n2 up %d times and down %d times, want once each", len(ups), len(downs))
	}
	if len(msgs) != 2000 {
		t.Errorf("n1 got %d of the 2000 peer messages n2 sent before closing", len(msgs))
	}
}

// A subscriber closed while its messages pile up unread leaves no goroutine behind. Not
// parallel: the other tests' subscribers have forwarders of their own.
func TestClosedSubscriberLeavesNoForwarder(t *testing.T) {
	forwarders := func() int {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
		return strings.Count(b.String(), "cluster.forward(")
	}
	r := startRedis(t)
	client := newClient(t, r.Addr())
	before := forwarders()
	s := newSubscriber(client)
	ctx := context.Background()
	if err := s.subscribe(ctx, "flood"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the subscription", func() bool {
		n, err := client.PubSubNumSub(ctx, "flood").Result()
		return err == nil && n["flood"] == 1
	})
	pipe := client.Pipeline()
	for range 3000 { // more than the forwarder's channel and go-redis's hold together
		pipe.Publish(ctx, "flood", "x")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the forwarder's channel to fill", func() bool { return len(s.out) == cap(s.out) })
	if forwarders() <= before {
		t.Fatal("no forwarder seen while the subscriber is open")
	}
	s.close()
	eventually(t, 2*time.Second, "the forwarder to end", func() bool { return forwarders() <= before })
}

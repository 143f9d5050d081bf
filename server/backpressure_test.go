package server

import (
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server/engine"
	"edgeio/server/servertest"

	dto "github.com/prometheus/client_model/go"
)

// A client that does not keep up first misses what the namespace sheds, once half of
// --max-queued waits for it; past the limit it is cut off, and what waited is replaced by
// the namespace's notice.
func TestCongestedClientsMissShedEventsThenAreCutOff(t *testing.T) {
	io := newTestServer(t, Options{Engine: engine.Options{MaxQueued: 10}})
	reasons := make(chan string, 1)
	io.Of("/").ShedWhenCongested("typing").
		OnSlowConsumer("error", map[string]any{"code": "SLOW_CONSUMER"}).
		OnConnection(func(s *Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
	c := servertest.Dial(t, io.Engine(), false)
	c.Connect("/", nil)

	emit := func(waiting int64, event string, args ...any) {
		t.Helper()
		_ = io.Of("/").Emit(event, args...)
		waitBacklog(t, c, waiting)
	}
	for i := range 5 {
		emit(int64(i+1), "message", i)
	}
	emit(6, "typing", "a") // 5 of 10 waiting: not congested, it goes
	emit(7, "message", 5)
	emit(7, "typing", "b") // 7 waiting: shed
	emit(8, "message", 6)
	want := []any{"message", "message", "message", "message", "message", "typing", "message", "message"}
	for i, w := range want {
		if p := c.Next(); p.Data.([]any)[0] != w {
			t.Fatalf("packet %d: %v, want %s", i, p.Data, w)
		}
	}
	c.NoEvent("typing")
	var m dto.Metric
	_ = io.metrics.shed.WithLabelValues("typing").Write(&m)
	if n := m.GetCounter().GetValue(); n != 1 {
		t.Fatalf("edgeio_shed_total{event=typing} = %v, want 1", n)
	}

	// nobody reads now: a message finding 11 waiting cuts the client off
	for i := range 11 {
		emit(int64(i+1), "message", i)
	}
	_ = io.Of("/").Emit("message", 11)
	select {
	case r := <-reasons:
		if r != engine.ReasonSlowConsumer {
			t.Fatalf("disconnect reason %q", r)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a client 20 messages behind, past --max-queued 10, was not cut off")
	}
	if args := c.Event("error"); args[0].(map[string]any)["code"] != "SLOW_CONSUMER" {
		t.Fatalf("notice %v", args)
	}
	c.NoEvent("message") // what waited is gone: a reconnecting client reads history instead
}

// Without a notice, the cut-off client just loses its connection; other namespaces'
// sockets on it get theirs.
func TestSlowConsumerNoticeIsPerNamespace(t *testing.T) {
	io := newTestServer(t, Options{Engine: engine.Options{MaxQueued: 4}})
	gone := make(chan string, 1)
	io.Of("/").OnConnection(func(*Socket) {})
	io.Of("/chat").OnSlowConsumer("bye").OnConnection(func(s *Socket) { s.OnDisconnect(func(r string) { gone <- r }) })
	c := servertest.Dial(t, io.Engine(), false)
	c.Connect("/", nil)
	c.Connect("/chat", nil)
	for i := range 5 {
		_ = io.Of("/").Emit("m")
		waitBacklog(t, c, int64(i+1))
	}
	_ = io.Of("/").Emit("m")
	select {
	case <-gone:
	case <-time.After(2 * time.Second):
		b, q := c.Session().Backlog()
		t.Fatalf("not cut off: %d bytes, %d packets waiting", b, q)
	}
	p := c.Next()
	if p.Type != codec.SEvent || p.Nsp != "/chat" || p.Data.([]any)[0] != "bye" {
		t.Fatalf("got %+v, want /chat's notice", p)
	}
	c.Quiet()
}

// waitBacklog waits until n packets wait for c: each broadcast delivered on its own, not
// coalesced with the next.
func waitBacklog(t *testing.T, c *servertest.Client, n int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, q := c.Session().Backlog(); q == n {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%d packets waiting, want %d", q, n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

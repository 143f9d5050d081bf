package server

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server/engine"
	"edgeio/server/servertest"
)

// A packet over the decode budget reaches no handler: the namespace's notice answers its
// ack with a message naming the budget, then the connection closes. One just inside it is
// handled. With either parser.
func TestPacketOverTheDecodeBudget(t *testing.T) {
	io := newTestServer(t, Options{})
	type notice struct {
		acked   bool
		message string
	}
	notices := make(chan notice, 1)
	io.Of("/").OnOverBudget(func(s *Socket, ack AckFunc, message string) {
		notices <- notice{ack != nil, message}
		if ack != nil {
			ack(map[string]any{"ok": false, "code": "PAYLOAD_TOO_LARGE"})
		}
	})
	handled := make(chan int, 1)
	reasons := make(chan string, 1)
	io.Of("/").OnConnection(func(s *Socket) {
		s.On("maps", func(args []any, ack AckFunc) { handled <- len(args[0].([]any)) })
		s.OnDisconnect(func(r string) { reasons <- r })
	})
	maps := func(n int) []any {
		list := make([]any, n)
		for i := range list {
			list[i] = map[string]any{}
		}
		return list
	}
	for _, msgpack := range []bool{false, true} {
		c := servertest.Dial(t, io.Engine(), msgpack)
		c.Connect("/", nil)
		// 500 empty maps cost 32 KB, within the 64 KiB every packet may take
		c.Emit("/", codec.NoID, "maps", maps(500))
		if n := <-handled; n != 500 {
			t.Fatalf("msgpack %v: the handler got %d maps", msgpack, n)
		}
		// 3,000 cost 192 KB, over the budget of a packet of 3 or 9 KB (and few enough for the
		// msgpack header walk to find the ack id)
		c.Emit("/", 9, "maps", maps(3000))
		n := <-notices
		if !n.acked || !strings.Contains(n.message, "decode budget") {
			t.Fatalf("msgpack %v: notice %+v, want one with the ack, naming the budget", msgpack, n)
		}
		if p := c.Next(); p.Type != codec.SAck || p.ID != 9 || !reflect.DeepEqual(p.Data, []any{map[string]any{"ok": false, "code": "PAYLOAD_TOO_LARGE"}}) {
			t.Fatalf("msgpack %v: the client got %+v, want the notice's ack 9", msgpack, p)
		}
		if r := <-reasons; r != engine.ReasonPayloadTooLarge {
			t.Fatalf("msgpack %v: disconnect reason %q", msgpack, r)
		}
		select {
		case n := <-handled:
			t.Fatalf("msgpack %v: the handler got a packet over the budget (%d maps)", msgpack, n)
		default:
		}
	}
}

// Large packets take turns to decode, first come first served; small ones never wait.
func TestDecodeGate(t *testing.T) {
	if g := newDecodeGate(-1); g != nil {
		t.Fatal("a negative bound still bounds")
	}
	var none *decodeGate
	none.leave(none.enter(5 << 20)) // no bound: no wait

	g := newDecodeGate(1_000_000)
	first := g.enter(900_000)
	if first != 900_000 {
		t.Fatalf("weight %d", first)
	}
	if w := g.enter(smallPacket); w != 0 {
		t.Fatalf("a small packet waited its turn (weight %d)", w)
	}
	entered := make(chan int64)
	go func() { entered <- g.enter(900_000) }()
	select {
	case <-entered:
		t.Fatal("a second large packet decoded alongside the first, over the bound")
	case <-time.After(50 * time.Millisecond):
	}
	g.leave(first)
	select {
	case w := <-entered:
		g.leave(w)
	case <-time.After(2 * time.Second):
		t.Fatal("the second packet still waits after the first is done")
	}
	// one larger than the bound decodes alone rather than never
	done := make(chan struct{})
	go func() { g.leave(g.enter(5 << 20)); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("a packet larger than the bound never decodes")
	}
}

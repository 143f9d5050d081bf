package engine

import (
	"strings"
	"testing"
	"time"

	"edgeio/codec"
)

// farewellHandler says goodbye to a slow consumer.
type farewellHandler struct{ closed chan string }

func (h *farewellHandler) OnMessage([]byte, bool) {}
func (h *farewellHandler) OnClose(reason string)  { h.closed <- reason }
func (h *farewellHandler) Farewell(reason string) []codec.EPacket {
	return []codec.EPacket{{Type: codec.EMessage, Data: []byte("bye: " + reason)}}
}

// A WebSocket client that stops reading is congested at half of --max-buffered and cut off
// past it. What waited in the server is dropped; a client that reads again gets what the
// kernel held, then the farewell, then a close frame 1008 "slow consumer".
func TestSlowWebSocketConsumerIsCutOffWithItsFarewell(t *testing.T) {
	ts := startServer(t, Options{MaxBuffered: 64 << 10, PingInterval: time.Minute})
	h := &farewellHandler{closed: make(chan string, 1)}
	opened := make(chan *Session, 1)
	ts.srv.OnOpen = func(s *Session) Handler { opened <- s; return h }
	c := dialRaw(t, ts.ws)
	c.frame() // open
	sess := <-opened

	msg := strings.Repeat("x", 1000)
	sent, congested := 0, false
	for sess.SendMessage([]byte(msg), false) { // the client reads nothing meanwhile
		sent++
		congested = congested || sess.Congested()
		if sent > 1_000_000 {
			t.Fatal("a client that reads nothing was sent 1 GB")
		}
	}
	if r := <-h.closed; r != ReasonSlowConsumer {
		t.Fatalf("close reason %q", r)
	}
	if !congested {
		t.Error("the session never reported itself congested before the cut-off")
	}

	got := 0
	for {
		op, p := c.frame()
		if op == codec.WSText && p == "4"+msg {
			got++
			continue
		}
		if op != codec.WSText || p != "4bye: slow consumer" {
			t.Fatalf("after %d messages: frame %d %.40q, want the farewell", got, op, p)
		}
		break
	}
	if op, p := c.frame(); op != codec.WSClose || p != "\x03\xf0slow consumer" {
		t.Fatalf("after the farewell: frame %d %q, want close 1008", op, p)
	}
	c.expectClosed()
	if got >= sent {
		t.Fatalf("all %d messages reached the cut-off client: nothing waiting was dropped", sent)
	}
	t.Logf("%d messages sent, %d read by the client (the kernel's buffers), the rest dropped", sent, got)
}

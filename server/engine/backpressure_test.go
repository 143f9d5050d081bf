package engine

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
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
// kernel held, then the farewell, then a close frame 1008 "slow consumer". (The bound is
// above flushBatch, as in production: the flush under way, which is written whatever
// happens, holds only part of what waits.)
func TestSlowWebSocketConsumerIsCutOffWithItsFarewell(t *testing.T) {
	ts := startServer(t, Options{MaxBuffered: 4 * flushBatch, PingInterval: time.Minute})
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

// Everything queued for a connection counts against its bounds, whatever it answers: a
// client that makes the server answer and never reads the answers is cut off as a slow
// consumer like one that does not read its messages. Without the bounds on control frames
// each of these held memory without limit.

// smallBuffers gives a socket 4 KB kernel buffers, the server's (its accepted sockets take
// the listener's) and the client's: the kernel holds little of what a client that does not
// read is sent, and the server's own bounds are met at once.
func smallBuffers(_, _ string, rc syscall.RawConn) error {
	return rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
}

func startSmallServer(t *testing.T, opts Options) *testServer {
	return startServerWith(t, opts, &net.ListenConfig{Control: smallBuffers})
}

var smallWindow = &net.Dialer{Control: smallBuffers}

// flood writes frame to c over and over, reading nothing, until the server closes the
// connection (true) or 5 s pass (false).
func flood(c *rawWS, frame []byte) bool {
	chunk := bytes.Repeat(frame, 64<<10/len(frame)+1)
	deadline := time.Now().Add(5 * time.Second)
	_ = c.nc.SetWriteDeadline(deadline)
	for {
		if _, err := c.nc.Write(chunk); err != nil {
			return !errors.Is(err, os.ErrDeadlineExceeded)
		}
	}
}

func closedAs(t *testing.T, closed <-chan string, want string) {
	t.Helper()
	select {
	case r := <-closed:
		if r != want {
			t.Fatalf("session closed as %q, want %q", r, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("session not closed (want %q)", want)
	}
}

// A flood of pings is cut off by the ping budget before its answers could pile up.
func TestWebSocketPingFloodOfAPeerThatDoesNotReadIsCutOff(t *testing.T) {
	ts := startSmallServer(t, Options{MaxBuffered: 64 << 10, PingInterval: time.Minute})
	c := dialRawWith(t, ts.ws, smallWindow)
	if !flood(c, clientFrame(0x89, bytes.Repeat([]byte("p"), 125))) {
		t.Fatal("a peer that pings and reads nothing kept its connection for 5 s")
	}
	closedAs(t, ts.closed, ReasonPingFlood)
}

func TestEngineIOv3WebSocketPingsOfAPeerThatDoesNotReadAreCutOff(t *testing.T) {
	ts := startSmallServer(t, Options{AllowEIO3: true, MaxBuffered: 64 << 10, PingInterval: time.Minute})
	c := dialRawWith(t, strings.Replace(ts.ws, "EIO=4", "EIO=3", 1), smallWindow)
	if !flood(c, clientFrame(0x81, append([]byte("2"), bytes.Repeat([]byte("p"), 1000)...))) {
		t.Fatal("a v3 peer that pings and reads nothing kept its connection for 5 s")
	}
	closedAs(t, ts.closed, ReasonSlowConsumer)
}

// An upgrade candidate that asks "2probe" again and again and reads nothing is closed
// alone: its session goes on polling.
func TestUpgradeCandidateThatDoesNotReadIsCutOffAlone(t *testing.T) {
	ts := startSmallServer(t, Options{MaxQueued: 100, PingInterval: time.Minute})
	sid := ts.handshake(t)
	c := dialRawWith(t, ts.ws+"&sid="+sid, smallWindow)
	if !flood(c, clientFrame(0x81, []byte("2probe"))) {
		t.Fatal("a candidate that probes and reads nothing kept its connection for 5 s")
	}
	u := ts.url + "&sid=" + sid
	if code, body := post(t, u, "4still polling"); code != 200 || body != "ok" {
		t.Fatalf("POST after the candidate's cut-off: %d %q", code, body)
	}
	if _, body := get(t, u); body != "4still polling" {
		t.Fatalf("poll after the candidate's cut-off: %q", body)
	}
}

// A v3 client that POSTs pings and never polls gets at most --max-queued pongs queued, then
// is cut off, and what was queued is dropped: its next poll has the close packet alone.
func TestEngineIOv3PollingPingsNeverPolledForAreCutOff(t *testing.T) {
	const maxQueued = 100
	ts := startServer(t, Options{AllowEIO3: true, MaxQueued: maxQueued, PingInterval: time.Minute})
	u := strings.Replace(ts.url, "EIO=4", "EIO=3", 1)
	_, open := get(t, u) // "NN:0{"sid":"…",…}"
	_, sid, _ := strings.Cut(open, `"sid":"`)
	u += "&sid=" + sid[:strings.IndexByte(sid, '"')]
	if code, body := post(t, u, strings.Repeat("1:2", 10_000)); code != 200 || body != "ok" {
		t.Fatalf("POST of 10,000 pings: %d %q", code, body)
	}
	closedAs(t, ts.closed, ReasonSlowConsumer)
	if n := ts.srv.opts.Stats.PacketsOut.Load(); n > 1+maxQueued+1 {
		t.Fatalf("%d packets queued for a client that polled only its handshake (--max-queued %d)", n, maxQueued)
	}
	if _, body := get(t, u); body != "1:1" {
		t.Fatalf("the next poll: %.60q, want the close packet alone", body)
	}
}

// The server's pings count too: one that finds the client past its bounds is not queued,
// and the client is cut off then, not at the ping timeout.
func TestHeartbeatPingPastTheBoundsCutsTheClientOff(t *testing.T) {
	srv := NewServer(Options{MaxQueued: 4, PingInterval: 20 * time.Millisecond, PingTimeout: time.Minute})
	closed := make(chan string, 1)
	srv.OnOpen = func(s *Session) Handler { return &echoHandler{sess: s, closed: closed} }
	sess := srv.Attach(4, "127.0.0.1:1") // the open packet waits
	for range 4 {
		if !sess.SendMessage([]byte("x"), false) {
			t.Fatal("a send within the bounds was refused")
		}
	}
	closedAs(t, closed, ReasonSlowConsumer)
	if pkts := sess.Drain(); len(pkts) != 1 || pkts[0].Type != codec.EClose {
		t.Fatalf("left for the client: %v, want the close packet alone", pkts)
	}
}

package engine

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/codec/codectest"
)

// rawWS is a hand-driven WebSocket client: it writes exactly the frames a test asks for,
// split however the test likes, and reads the server's frames one by one.
type rawWS struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, wsURL string) *rawWS {
	t.Helper()
	return dialRawWith(t, wsURL, &net.Dialer{})
}

func dialRawWith(t *testing.T, wsURL string, d *net.Dialer) *rawWS {
	t.Helper()
	addr := strings.TrimPrefix(wsURL, "ws://")
	host, path, _ := strings.Cut(addr, "/")
	nc, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	fmt.Fprintf(nc, "GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return &rawWS{t: t, nc: nc, br: br}
}

func clientFrame(b0 byte, payload []byte) []byte {
	return codectest.MaskedFrame(b0, payload, [4]byte{0x11, 0x22, 0x33, 0x44})
}

func (c *rawWS) send(b []byte) {
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// frame reads the server's next frame.
func (c *rawWS) frame() (op byte, payload string) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		_, _ = io.ReadFull(c.br, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, _ = io.ReadFull(c.br, l[:])
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		c.t.Fatalf("reading a payload: %v", err)
	}
	return h[0] & 0x0f, string(p)
}

// expectClosed reads until the server closes the TCP connection.
func (c *rawWS) expectClosed() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.Copy(io.Discard, c.br); err != nil {
		c.t.Fatalf("server did not close: %v", err)
	}
}

func TestWebSocketFragmentsPingsAndOneByteReads(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialRaw(t, ts.ws)
	if op, open := c.frame(); op != codec.WSText || !strings.HasPrefix(open, "0{") {
		t.Fatalf("open: %d %q", op, open)
	}
	var stream []byte
	stream = append(stream, clientFrame(0x01, []byte("4hel"))...)    // text, more to come
	stream = append(stream, clientFrame(0x89, []byte("are you"))...) // a ping in between
	stream = append(stream, clientFrame(0x80, []byte("lo"))...)      // the end of the text
	stream = append(stream, clientFrame(0x82, []byte{9, 8, 7})...)
	for i := range stream { // one byte per write: the server sees many partial reads
		c.send(stream[i : i+1])
	}
	want := []struct {
		op byte
		p  string
	}{{codec.WSPong, "are you"}, {codec.WSText, "4hello"}, {codec.WSBinary, "\x09\x08\x07"}}
	for _, w := range want {
		if op, p := c.frame(); op != w.op || p != w.p {
			t.Fatalf("got %d %q, want %d %q", op, p, w.op, w.p)
		}
	}
}

// Pings within the budget are answered every one, in order, with their payloads: those of
// one read in one write. A burst past the budget closes the connection with 1008 "too many
// pings", the pings before it answered.
func TestWebSocketEveryPingIsAnswered(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialRaw(t, ts.ws)
	c.frame() // open
	const n = pingBurst + 1
	var pings []byte
	for i := range n {
		pings = append(pings, clientFrame(0x89, []byte(strconv.Itoa(i)))...)
	}
	c.send(pings)
	for i := range pingBurst {
		if op, p := c.frame(); op != codec.WSPong || p != strconv.Itoa(i) {
			t.Fatalf("answer %d: frame %d %q, want pong %d", i, op, p, i)
		}
	}
	if op, p := c.frame(); op != codec.WSClose || p != "\x03\xf0too many pings" {
		t.Fatalf("after %d pings at once: frame %d %q, want close 1008 too many pings", n, op, p)
	}
}

// The budget refills: a peer that pings at its rate forever is answered forever.
func TestPingBudgetRefills(t *testing.T) {
	var b pingBudget
	now := time.Now()
	for i := range pingBurst {
		if !b.allow(now) {
			t.Fatalf("ping %d of a burst refused", i)
		}
	}
	if b.allow(now) {
		t.Fatal("a ping past the burst allowed")
	}
	for i := range 1000 { // 100 s at the rate
		now = now.Add(time.Second / pingRate)
		if !b.allow(now) {
			t.Fatalf("ping %d at the rate refused", i)
		}
	}
}

func TestWebSocketMessagesBeforeACloseAreHandledFirst(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialRaw(t, ts.ws)
	c.frame() // open
	// a message and the close in one write: the message is echoed, then the session ends
	c.send(append(clientFrame(0x81, []byte("4bye")), clientFrame(0x88, []byte{0x03, 0xe8})...))
	if op, p := c.frame(); op != codec.WSText || p != "4bye" {
		t.Fatalf("got %d %q before the close", op, p)
	}
	if op, p := c.frame(); op != codec.WSClose || p != "\x03\xe8" {
		t.Fatalf("close answer %d %q", op, p)
	}
	c.expectClosed()
	if r := <-ts.closed; r != "transport close" {
		t.Fatalf("reason %q", r)
	}
}

// A broken frame is answered with its close code and the reason, which browsers show.
func TestWebSocketBadFramesGetTheirCloseCode(t *testing.T) {
	ts := startServer(t, Options{})
	unmasked := clientFrame(0x81, []byte("4x"))
	unmasked[1] &^= 0x80
	for _, c := range []struct {
		name  string
		frame []byte
		code  string
	}{
		{"unmasked", unmasked, "\x03\xeaprotocol error"},                                                   // 1002
		{"invalid UTF-8 text", clientFrame(0x81, []byte{'4', 0xff}), "\x03\xefinvalid frame payload data"}, // 1007
		{"reserved opcode", clientFrame(0x83, nil), "\x03\xeaprotocol error"},
		{"a close with a code never sent", clientFrame(0x88, []byte{0x03, 0xee}), "\x03\xe8"}, // 1006 → 1000
	} {
		ws := dialRaw(t, ts.ws)
		ws.frame()
		ws.send(c.frame)
		if op, p := ws.frame(); op != codec.WSClose || p != c.code {
			t.Errorf("%s: got %d %q, want close %q", c.name, op, p, c.code)
		}
		ws.expectClosed()
	}
}

// An idle WebSocket holds no goroutine: the pollers read every connection.
func TestIdleWebSocketsHoldNoGoroutine(t *testing.T) {
	ts := startServer(t, Options{})
	ts.srv.OnOpen = func(*Session) Handler { return &blockingHandler{} }
	warm := dialRaw(t, ts.ws) // starts the pollers
	warm.frame()
	before := runtime.NumGoroutine()
	const n = 200
	for range n {
		c := dialRaw(t, ts.ws)
		c.frame()
	}
	time.Sleep(100 * time.Millisecond) // flush goroutines of the handshakes end
	if grown := runtime.NumGoroutine() - before; grown > n/10 {
		t.Fatalf("%d idle connections added %d goroutines", n, grown)
	}
}

// blockingHandler holds every message until released, as a handler waiting on a store does.
type blockingHandler struct {
	release chan struct{}
	handled chan struct{}
}

func (h *blockingHandler) OnMessage([]byte, bool) { <-h.release; h.handled <- struct{}{} }
func (h *blockingHandler) OnClose(string)         {}

// A client that sends faster than its handler runs is not read ahead without bound: the
// connection stops being read, and everything is handled, in order, once the handler is free.
func TestWebSocketReadingPausesWhileTheHandlerIsBusy(t *testing.T) {
	ts := startServer(t, Options{})
	h := &blockingHandler{release: make(chan struct{}), handled: make(chan struct{}, 4096)}
	opened := make(chan *Session, 1)
	ts.srv.OnOpen = func(s *Session) Handler { opened <- s; return h }
	c := dialRaw(t, ts.ws)
	c.frame()
	sess := <-opened
	const sent = 2000
	go func() {
		msg := clientFrame(0x81, []byte("4"+strings.Repeat("m", 1000)))
		for range sent {
			if _, err := c.nc.Write(msg); err != nil {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	wc := sess.ws
	wc.rmu.Lock()
	queued, paused := len(wc.inbox), wc.paused
	wc.rmu.Unlock()
	if !paused || queued > 2*inboxMaxMessages {
		t.Fatalf("busy handler: %d messages read ahead, paused %v", queued, paused)
	}
	close(h.release)
	for i := range sent {
		select {
		case <-h.handled:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d messages handled after the handler was freed", i, sent)
		}
	}
}

// A v3 session opened on WebSocket gets its handshake a moment after the 101
// (v3HandshakeDelay), so that it is not in the client's read of the 101.
func TestEngineIOv3WebSocketHandshakeComesAfterThe101(t *testing.T) {
	ts := startServer(t, Options{AllowEIO3: true})
	c := dialRaw(t, strings.Replace(ts.ws, "EIO=4", "EIO=3", 1))
	upgraded := time.Now()
	if c.br.Buffered() > 0 {
		t.Skip("the 101 was read late, together with what followed: nothing to tell from this run")
	}
	op, open := c.frame()
	if op != codec.WSText || !strings.HasPrefix(open, "0{") {
		t.Fatalf("open: %d %q", op, open)
	}
	if gap := time.Since(upgraded); gap < time.Millisecond {
		t.Fatalf("the handshake came %v after the 101", gap)
	}
}

package server

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server/security"
)

// A refused session's CONNECT is answered with a CONNECT_ERROR on its namespace, in the
// parser it spoke; a v2 client is told at once, with an error object and a DISCONNECT.
func TestRefusalAnswer(t *testing.T) {
	io := newTestServer(t, Options{})
	why := security.HandshakeRate
	why.RetryAfter = 1500 * time.Millisecond

	got := io.refusalAnswer(4, why, &codec.EPacket{Type: codec.EMessage, Data: []byte(`0/chat,{"token":"x"}`)})
	if len(got) != 1 || string(got[0].Data) != `4/chat,{"data":{"code":"RATE_LIMITED","retryAfterMs":1500},"message":"too many connection attempts from this address"}` {
		t.Fatalf("JSON: %v", got)
	}
	connect, _ := codec.EncodeMsgpack(nil, &codec.SPacket{Type: codec.SConnect, Nsp: "/", ID: codec.NoID})
	got = io.refusalAnswer(4, security.Denied, &codec.EPacket{Type: codec.EMessage, Data: connect, Binary: true})
	if len(got) != 1 || !got[0].Binary {
		t.Fatalf("msgpack: %v", got)
	}
	p, err := codec.DecodeMsgpack(got[0].Data)
	if err != nil || p.Type != codec.SConnectError || p.Nsp != "/" || fmt.Sprint(p.Data) != "map[data:map[code:FORBIDDEN] message:this address is denied by the operator]" {
		t.Fatalf("msgpack CONNECT_ERROR: %+v %v", p, err)
	}
	for _, msg := range []*codec.EPacket{nil, {Type: codec.EMessage, Data: []byte(`2["x"]`)}, {Type: codec.EMessage, Data: []byte(`0junk`)}} {
		if got := io.refusalAnswer(4, why, msg); got != nil {
			t.Fatalf("answered %v with %v", msg, got)
		}
	}
	got = io.refusalAnswer(3, security.BannedRefusal, nil)
	if len(got) != 2 || string(got[0].Data) != `4{"code":"BANNED","message":"this address is banned"}` || string(got[1].Data) != "1" {
		t.Fatalf("v3: %v", got)
	}
	v2msgpack := newTestServer(t, Options{EIO3Msgpack: true})
	got = v2msgpack.refusalAnswer(3, security.Denied, nil)
	if len(got) != 2 || !strings.HasPrefix(string(got[0].Data), `{"type":4,"nsp":"/","data":{"code":"FORBIDDEN"`) || string(got[1].Data) != `{"type":1,"nsp":"/"}` {
		t.Fatalf("v3 msgpack: %v", got)
	}
}

// A flood of refusals writes one line per reason, then one summary per period.
func TestRefusalLogIsRateLimited(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	l := &refusalLog{logf: func(f string, a ...any) { mu.Lock(); lines = append(lines, fmt.Sprintf(f, a...)); mu.Unlock() }}
	now := time.Now()
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 10_000 {
		l.note(security.ConnsPerIP, a, now.Add(time.Duration(i)*time.Microsecond))
	}
	l.note(security.Denied, a, now)
	mu.Lock()
	if len(lines) != 2 || !strings.Contains(lines[0], "192.0.2.1: conns_per_ip (RATE_LIMITED, retry after 5s)") || !strings.Contains(lines[1], "denylist (FORBIDDEN)") {
		t.Fatalf("lines: %q", lines)
	}
	mu.Unlock()
	l.flush(security.RefusedPerIP)
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 3 || !strings.Contains(lines[2], "refused 9999 more for conns_per_ip (RATE_LIMITED)") {
		t.Fatalf("summary: %q", lines)
	}
}

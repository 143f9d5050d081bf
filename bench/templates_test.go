package bench

import (
	"math"
	"testing"
	"time"

	"edgeio/codec"
)

// decodeOut decodes a packet as the transport would carry it.
func decodeOut(t *testing.T, b []byte, msgpack bool) *codec.SPacket {
	t.Helper()
	if msgpack {
		p, err := codec.DecodeMsgpack(b)
		if err != nil {
			t.Fatalf("msgpack %x: %v", b, err)
		}
		return p
	}
	if len(b) == 0 || b[0] != '4' {
		t.Fatalf("not an Engine.IO message: %q", b)
	}
	var d codec.JSONDecoder
	p, err := d.DecodeText(b[1:])
	if err != nil {
		t.Fatalf("json %q: %v", b, err)
	}
	return p
}

func TestSendTemplateRoundTrip(t *testing.T) {
	for _, c := range []struct{ msgpack, cmid bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		msgpack := c.msgpack
		tpl, err := newSendTemplate("bench-7", msgpack, c.cmid)
		if err != nil {
			t.Fatal(err)
		}
		var buf []byte
		for _, tc := range []struct {
			id uint32
			ts int64
		}{{1 | sendAckBit, 0}, {seqMask | sendAckBit, 123456789}, {42, math.MaxInt64}} {
			buf = tpl.append(buf[:0], tc.id, tc.ts)
			p := decodeOut(t, buf, msgpack)
			args, _ := p.Data.([]any)
			if p.Type != codec.SEvent || p.ID != int64(tc.id) || len(args) != 2 || args[0] != "send-message" {
				t.Fatalf("msgpack=%v: packet %+v", msgpack, p)
			}
			m := args[1].(map[string]any)
			ts, ok := parseDigits([]byte(m["content"].(string)[len(tsPrefix):]))
			if m["roomId"] != "bench-7" || !ok || ts != tc.ts {
				t.Fatalf("msgpack=%v: payload %v, ts %d", msgpack, m, ts)
			}
			if cmid, _ := m["clientMsgId"].(string); c.cmid != (cmid != "") || c.cmid && cmid != cmidPrefix+m["content"].(string)[len(tsPrefix):] {
				t.Fatalf("msgpack=%v: clientMsgId %q, content %q", msgpack, cmid, m["content"])
			}
		}
		if n := testing.AllocsPerRun(100, func() { buf = tpl.append(buf[:0], 99, 1<<40) }); n != 0 {
			t.Errorf("msgpack=%v: append allocates %v times", msgpack, n)
		}
	}
}

func TestControlPackets(t *testing.T) {
	for _, msgpack := range []bool{false, true} {
		b, err := encodeConnect(msgpack, "tok", false)
		if err != nil {
			t.Fatal(err)
		}
		p := decodeOut(t, b, msgpack)
		if auth := p.Data.(map[string]any); p.Type != codec.SConnect || auth["token"] != "tok" || auth["recovery"] != nil {
			t.Fatalf("connect %+v", p)
		}
		b, _ = encodeConnect(msgpack, "tok", true)
		if auth := decodeOut(t, b, msgpack).Data.(map[string]any); auth["recovery"] != true {
			t.Fatalf("connect asking for recovery: %+v", auth)
		}
		b, err = encodeEvent(msgpack, 3, "join-room", "bench-1")
		if err != nil {
			t.Fatal(err)
		}
		p = decodeOut(t, b, msgpack)
		if p.Type != codec.SEvent || p.ID != 3 || p.Data.([]any)[1] != "bench-1" {
			t.Fatalf("event %+v", p)
		}
	}
}

// nullTransport swallows writes, as a socket with room in its buffer would.
type nullTransport struct{ writes int }

func (n *nullTransport) write([]byte, bool) error { n.writes++; return nil }
func (n *nullTransport) pong()                    {}
func (n *nullTransport) close()                   {}

// testRun is a run with one room and no connections dialled.
func testRun(t *testing.T, msgpack bool) *run {
	t.Helper()
	parser := ParserJSON
	if msgpack {
		parser = ParserMsgpack
	}
	r, err := newRun(Config{URL: "http://127.0.0.1:1", Conns: 2, RoomSize: 2, Parser: parser,
		Transport: TransportWebSocket, ConnectTimeout: time.Second, JWTSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.conns {
		c.tr = &nullTransport{}
		c.state.Store(stOpen)
	}
	return r
}

// TestSendAndReceiveDoNotAllocate: the hot paths of a run, a send and a delivery.
func TestSendAndReceiveDoNotAllocate(t *testing.T) {
	for _, msgpack := range []bool{false, true} {
		r := testRun(t, msgpack)
		c := r.conns[0]
		r.sendStart.Store(0)
		if n := testing.AllocsPerRun(200, func() { _ = c.sendMessage(r.now()) }); n != 0 {
			t.Errorf("msgpack=%v: sendMessage allocates %v times", msgpack, n)
		}
		msg := serverPacket(t, msgpack, "new-message", map[string]any{
			"id": "m1", "roomId": "bench-0", "userId": "bench-1", "username": "bench-1",
			"content": tsPlaceholder[:len(tsPrefix)] + "0000000000000000005", "createdAt": "2026-01-01T00:00:00.000Z",
		})
		before := r.received.Load()
		if n := testing.AllocsPerRun(200, func() { c.onEngine(codec.EMessage, msg, msgpack) }); n != 0 {
			t.Errorf("msgpack=%v: a delivery allocates %v times", msgpack, n)
		}
		if got := r.received.Load() - before; got != 201 {
			t.Errorf("msgpack=%v: %d deliveries counted, want 201", msgpack, got)
		}
	}
}

// serverPacket encodes an event as a server sends it (without the Engine.IO type).
func serverPacket(t *testing.T, msgpack bool, name string, arg any) []byte {
	t.Helper()
	p := &codec.SPacket{Type: codec.SEvent, Nsp: "/", ID: codec.NoID, Data: []any{name, arg}}
	if msgpack {
		b, err := codec.EncodeMsgpack(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b, _, err := codec.EncodeJSON(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDigits(t *testing.T) {
	b := make([]byte, tsDigits)
	putDigits(b, 1234567890123456789)
	if string(b) != "1234567890123456789" {
		t.Fatalf("%s", b)
	}
	if v, ok := parseDigits(b); !ok || v != 1234567890123456789 {
		t.Fatalf("%d %v", v, ok)
	}
	for _, bad := range []string{"123", "12345678901234567x9"} {
		if _, ok := parseDigits([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

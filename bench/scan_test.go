package bench

import (
	"testing"

	"edgeio/codec"
)

func TestJSONScan(t *testing.T) {
	for in, want := range map[string]string{
		`2["new-message",{}]`: "new-message", `2["x"]`: "x",
		`2["a\"b",1]`: "", `21["x"]`: "", `2/chat,["x"]`: "", `3["x"]`: "", `2["open`: "", `2[`: "",
	} {
		name, ok := jsonEventName([]byte(in))
		if string(name) != want || ok != (want != "") {
			t.Errorf("jsonEventName(%s) = %q, %v", in, name, ok)
		}
	}
	for in, want := range map[string]int64{
		`2["new-message",{"content":"t:0000000000000000042","id":"1"}]`: 42,
		`2["new-message",{"content":"t:00000000000000000420"}]`:         -1, // too long
		`2["new-message",{"content":"t:42"}]`:                           -1,
		`2["new-message",{"content":"hello"}]`:                          -1,
	} {
		ts, ok := jsonContentTS([]byte(in))
		if ok != (want >= 0) || (ok && ts != want) {
			t.Errorf("jsonContentTS(%s) = %d, %v", in, ts, ok)
		}
	}
}

// mp builds msgpack bytes from pieces.
func mp(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			b = append(b, v)
		case string:
			b = append(b, 0xa0|byte(len(v)))
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		}
	}
	return b
}

func TestMsgpackScan(t *testing.T) {
	event := []byte{0x92, 0xab}
	event = append(event, "new-message"...)
	cases := []struct {
		in   []byte
		want string
	}{
		{mp(byte(0x83), "type", byte(2), "nsp", "/", "data", event), "new-message"},
		// data first, then other keys (any order)
		{mp(byte(0x83), "data", event, "type", byte(2), "nsp", "/"), "new-message"},
		// id of every integer width before data
		{mp(byte(0x85), "id", []byte{0xcc, 1}, "id", []byte{0xcd, 0, 1}, "id", []byte{0xce, 0, 0, 0, 1},
			"id", []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 1}, "data", event), "new-message"},
		// map16 header, array16
		{mp([]byte{0xde, 0, 1}, "data", []byte{0xdc, 0, 2, 0xa1, 'x'}), "x"},
		// an ack: data starts with a map
		{mp(byte(0x83), "type", byte(3), "nsp", "/", "data", []byte{0x91, 0x81}), ""},
		// CONNECT: data is a map
		{mp(byte(0x83), "type", byte(0), "nsp", "/", "data", []byte{0x81}), ""},
		// no data
		{mp(byte(0x82), "type", byte(1), "nsp", "/"), ""},
		// a non-scalar before data
		{mp(byte(0x82), "x", []byte{0x90}, "data", event), ""},
		{nil, ""}, {[]byte{0x93}, ""}, {mp(byte(0x81), "data"), ""}, {mp(byte(0x81), "data", []byte{0x90}), ""},
	}
	for _, tc := range cases {
		name, ok := mpEventName(tc.in)
		if string(name) != tc.want || ok != (tc.want != "") {
			t.Errorf("mpEventName(%x) = %q, %v; want %q", tc.in, name, ok, tc.want)
		}
	}
	// Real packets from the codec, str8 and str16 strings included.
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a'
	}
	b, err := codec.EncodeMsgpack(nil, &codec.SPacket{Type: codec.SEvent, Nsp: "/" + string(long[:40]), ID: 1 << 40,
		Data: []any{string(long), map[string]any{"content": "t:0000000000000000007"}}})
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := mpEventName(b); !ok || string(name) != string(long) {
		t.Fatalf("codec packet: %q %v", name, ok)
	}
	if ts, ok := mpContentTS(b); !ok || ts != 7 {
		t.Fatalf("mpContentTS = %d %v", ts, ok)
	}
	if _, ok := mpContentTS([]byte("nothing")); ok {
		t.Fatal("mpContentTS found nothing")
	}
	for _, in := range [][]byte{{0xd9}, {0xda, 0}, {0xdb, 0, 0}, {0xa5, 'a'}, {0xc1}} {
		if _, _, ok := mpStr(in, 0); ok {
			t.Errorf("mpStr(%x) ok", in)
		}
	}
	for _, in := range [][]byte{{0xcf, 0}, {0xc4}, {}} {
		if _, ok := mpSkipScalar(in, 0); ok {
			t.Errorf("mpSkipScalar(%x) ok", in)
		}
	}
	for _, in := range [][]byte{{0xc0}, {0xc3}, {0xff}, {0xd0, 1}, {0xd1, 1, 2}, {0xca, 1, 2, 3, 4}, {0xcb, 1, 2, 3, 4, 5, 6, 7, 8}, {0xd9, 1, 'x'}} {
		if next, ok := mpSkipScalar(in, 0); !ok || next != len(in) {
			t.Errorf("mpSkipScalar(%x) = %d, %v", in, next, ok)
		}
	}
}

func TestUserIndex(t *testing.T) {
	for in, want := range map[string]int{"bench-0": 0, "bench-9999": 9999, "alice": -1, "bench-": -1, "bench--1": -1, "bench-x": -1} {
		n, ok := userIndex(in)
		if ok != (want >= 0) || (ok && n != want) {
			t.Errorf("userIndex(%q) = %d, %v", in, n, ok)
		}
	}
}

// TestDispatch feeds a connection the packets a server sends besides deliveries.
func TestDispatch(t *testing.T) {
	for _, msgpack := range []bool{false, true} {
		r := testRun(t, msgpack)
		a, b := r.conns[0], r.conns[1]
		a.joined.Store(true)
		r.buildRooms()
		r.sendStart.Store(0)
		feed := func(c *conn, p *codec.SPacket) {
			t.Helper()
			if msgpack {
				out, err := codec.EncodeMsgpack(nil, p)
				if err != nil {
					t.Fatal(err)
				}
				c.onEngine(codec.EMessage, out, true)
				return
			}
			out, _, err := codec.EncodeJSON(nil, p)
			if err != nil {
				t.Fatal(err)
			}
			c.onEngine(codec.EMessage, out, false)
		}
		event := func(name string, arg any) *codec.SPacket {
			return &codec.SPacket{Type: codec.SEvent, Nsp: "/", ID: codec.NoID, Data: []any{name, arg}}
		}
		ack := func(id int64, arg any) *codec.SPacket {
			return &codec.SPacket{Type: codec.SAck, Nsp: "/", ID: id, Data: []any{arg}}
		}

		// Probes: only the matching user and status count, and never the prober itself.
		r.typing.begin(1, &probe{start: r.now(), expect: 1})
		r.presence.begin(1, &probe{start: r.now(), expect: 1, status: "away"})
		feed(a, event("user-typing", map[string]any{"userId": "bench-1", "isTyping": true}))
		feed(a, event("user-typing", map[string]any{"userId": "bench-1", "isTyping": false}))
		feed(a, event("user-typing", map[string]any{"userId": "bench-0", "isTyping": true}))
		feed(b, event("user-typing", map[string]any{"userId": "bench-1", "isTyping": true}))
		feed(a, event("presence-update", map[string]any{"userId": "bench-1", "status": "online"}))
		feed(a, event("presence-update", map[string]any{"userId": "bench-1", "status": "away"}))
		if r.typing.outstanding() != 0 || r.presence.outstanding() != 0 {
			t.Fatalf("probes outstanding: %d %d", r.typing.outstanding(), r.presence.outstanding())
		}
		r.typing.expire(r.now(), false) // not old enough yet
		if r.typing.counts().Sent != 0 {
			t.Fatal("fresh probe expired")
		}
		r.typing.expire(0, true)
		if c := r.typing.counts(); c != (ProbeCounts{Sent: 1, Expected: 1, Received: 1}) {
			t.Fatalf("typing counts %+v", c)
		}

		// A new-message the fast path cannot read goes through the decoder.
		feed(a, event("new-message", map[string]any{"content": "t:0000000000000000001", "x": "\"content\":\"t:"}))
		feed(a, event("new-message", map[string]any{"content": "hello"}))
		feed(a, event("room-member-joined", map[string]any{"roomId": "bench-0"}))
		if r.received.Load() != 1 {
			t.Fatalf("received %d, want 1", r.received.Load())
		}

		// Errors: an error event, a failed send ack, a failed presence ack, a failed join.
		feed(a, event("error", map[string]any{"code": "RATE_LIMITED", "message": "slow down"}))
		feed(a, ack(sendAckBit|5, map[string]any{"ok": false, "error": map[string]any{"code": "NOT_IN_ROOM"}}))
		_ = a.emitCtrl(ctrlPresence, "update-presence", "away")
		feed(a, ack(1, map[string]any{"ok": false}))
		_ = a.emitCtrl(ctrlJoin, "join-room", "bench-0")
		r.joinPending.Add(1)
		feed(a, ack(2, map[string]any{"ok": false, "error": map[string]any{"code": "FORBIDDEN"}}))
		feed(a, ack(99, map[string]any{"ok": true})) // unknown id: ignored
		feed(a, &codec.SPacket{Type: codec.SAck, Nsp: "/", ID: 3, Data: []any{}})
		want := map[string]int64{"error event RATE_LIMITED": 1, "send-message NOT_IN_ROOM": 1,
			"update-presence UNKNOWN": 1, "join-room FORBIDDEN": 1}
		got := r.errors.snapshot()
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("msgpack=%v: errors %v, want %v", msgpack, got, want)
			}
		}
		if r.joinPending.Load() != 0 {
			t.Fatal("join ack not counted")
		}
		// A successful send ack measures the ack latency.
		_ = a.sendMessage(r.now())
		feed(a, ack(int64(a.seq)|sendAckBit, map[string]any{"ok": true}))
		if r.acked.Load() != 1 {
			t.Fatal("send ack not counted")
		}

		// Connecting: CONNECT_ERROR and CONNECT replies.
		c := newConn(r, 0)
		c.tr = &nullTransport{}
		c.start = r.now()
		feed(c, &codec.SPacket{Type: codec.SConnectError, Nsp: "/", ID: codec.NoID,
			Data: map[string]any{"message": "unauthorized", "data": map[string]any{"code": "TOKEN_EXPIRED"}}})
		if err := <-c.ready; err == nil || err.Error() != "TOKEN_EXPIRED" {
			t.Fatalf("connect error %v", err)
		}
		c = newConn(r, 0)
		c.tr = &nullTransport{}
		c.onEngine(codec.EOpen, []byte(`{"sid":"x"}`), false)
		if c.tr.(*nullTransport).writes != 1 {
			t.Fatal("open did not send CONNECT")
		}
		feed(c, &codec.SPacket{Type: codec.SConnect, Nsp: "/", ID: codec.NoID, Data: map[string]any{"sid": "s"}})
		if err := <-c.ready; err != nil || !c.alive() {
			t.Fatalf("connect: %v", err)
		}
		c.onEngine(codec.EPing, nil, false)
		c.joined.Store(true)
		live := r.rooms[0].live.Load()
		feed(c, &codec.SPacket{Type: codec.SDisconnect, Nsp: "/", ID: codec.NoID})
		c.onEngine(codec.EClose, nil, false) // already dead: not counted twice
		if r.disconnects.snapshot()["io server disconnect"] != 1 || r.rooms[0].live.Load() != live-1 || c.alive() {
			t.Fatalf("disconnects %v", r.disconnects.snapshot())
		}
		// A connection lost while connecting reports why.
		c = newConn(r, 1)
		c.lost("engine close")
		if err := <-c.ready; err == nil || err.Error() != "engine close" {
			t.Fatalf("lost while connecting: %v", err)
		}
		// Closing is not a disconnect.
		b.shutdown()
		b.lost("transport close")
		if r.disconnects.total() != 1 {
			t.Fatal("shutdown counted as a disconnect")
		}
		// Garbage is a decode error, not a crash.
		a.onEngine(codec.EMessage, []byte{0xc1}, true)
		a.onEngine(codec.EMessage, []byte("9"), false)
		if r.errors.snapshot()["decode"] != 2 {
			t.Fatalf("decode errors %v", r.errors.snapshot())
		}
	}
}

func TestConnectErrorCode(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{map[string]any{"message": "unauthorized", "data": map[string]any{"code": "UNAUTHORIZED"}}, "UNAUTHORIZED"},
		{map[string]any{"message": "Invalid namespace"}, "Invalid namespace"},
		{nil, "CONNECT_ERROR"},
	} {
		if got := connectErrorCode(tc.in); got != tc.want {
			t.Errorf("connectErrorCode(%v) = %q", tc.in, got)
		}
	}
}

package engine

import (
	"testing"

	"edgeio/codec"
)

func TestPreparedReachesWebSocketAndPollingSessions(t *testing.T) {
	ts := startServer(t, Options{})
	for _, compress := range []bool{false, true} {
		ws := dialWS(t, ts.ws, compress)
		ws.next(t, 0)
		sid := ts.handshake(t)
		var sessions []*Session
		ts.srv.mu.Lock()
		for _, s := range ts.srv.sessions {
			sessions = append(sessions, s)
		}
		ts.srv.mu.Unlock()
		p := NewPrepared([]codec.EPacket{{Type: codec.EMessage, Data: []byte("shared")}, {Type: codec.EMessage, Data: []byte{9}, Binary: true}})
		for _, s := range sessions {
			s.SendPrepared(p)
		}
		if m := ws.next(t, 1); m != "4shared" {
			t.Fatalf("compress=%v: ws got %q", compress, m)
		}
		if m := ws.next(t, 2); m != "bin:\x09" {
			t.Fatalf("compress=%v: ws got %q", compress, m)
		}
		if _, body := get(t, ts.url+"&sid="+sid); body != "4shared\x1ebCQ==" {
			t.Fatalf("polling got %q", body)
		}
		ts.srv.Close("test over")
		ts.srv.closing = false
	}
}

// Several prepared messages sent together arrive whole and in order, on a WebSocket (one
// write) and on polling.
func TestPreparedManyArriveInOrder(t *testing.T) {
	ts := startServer(t, Options{})
	old := map[*Session]bool{} // closed by the round before
	for _, compress := range []bool{false, true} {
		ws := dialWS(t, ts.ws, compress)
		ws.next(t, 0)
		sid := ts.handshake(t)
		var sessions []*Session
		ts.srv.mu.Lock()
		for _, s := range ts.srv.sessions {
			if !old[s] {
				sessions = append(sessions, s)
				old[s] = true
			}
		}
		ts.srv.mu.Unlock()
		if len(sessions) != 2 {
			t.Fatalf("%d new sessions, want 2", len(sessions))
		}
		one := NewPrepared([]codec.EPacket{{Type: codec.EMessage, Data: []byte("one")}})
		two := NewPrepared([]codec.EPacket{{Type: codec.EMessage, Data: []byte("two")}, {Type: codec.EMessage, Data: []byte{7}, Binary: true}})
		for _, s := range sessions {
			if !s.SendPreparedMany([]*Prepared{one, two}) {
				t.Fatalf("compress=%v: an open session (%s) refused the messages", compress, s.Transport())
			}
		}
		for i, want := range []string{"4one", "4two", "bin:\x07"} {
			if m := ws.next(t, i+1); m != want {
				t.Fatalf("compress=%v: ws message %d is %q, want %q", compress, i, m, want)
			}
		}
		if _, body := get(t, ts.url+"&sid="+sid); body != "4one\x1e4two\x1ebBw==" {
			t.Fatalf("polling got %q", body)
		}
		ts.srv.Close("test over")
		ts.srv.closing = false
		for _, s := range sessions {
			if s.SendPreparedMany([]*Prepared{one}) {
				t.Fatal("a closed session took a message")
			}
		}
	}
}

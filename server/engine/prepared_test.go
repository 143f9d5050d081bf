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

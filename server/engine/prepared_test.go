package engine

import (
	"strings"
	"testing"

	"edgeio/codec"
)

// Prepared messages reach WebSocket (Engine.IO v4 and v3) and polling sessions whole and in
// order, one at a time or several together (one write on a WebSocket); a closed session
// takes none.
func TestPreparedReachesWebSocketAndPollingSessions(t *testing.T) {
	packet := func(data string, binary bool) codec.EPacket {
		return codec.EPacket{Type: codec.EMessage, Data: []byte(data), Binary: binary}
	}
	shared := NewPrepared([]codec.EPacket{packet("shared", false), packet("\x09", true)})
	one := NewPrepared([]codec.EPacket{packet("one", false)})
	two := NewPrepared([]codec.EPacket{packet("two", false), packet("\x07", true)})
	cases := []struct {
		name     string
		send     func(*Session) bool
		ws       []string
		ws3      []string // v3 frames a binary packet with its type: 4
		pollBody string
	}{
		{"one", func(s *Session) bool { return s.SendPrepared(shared) },
			[]string{"4shared", "bin:\x09"}, []string{"4shared", "bin:\x04\x09"}, "4shared\x1ebCQ=="},
		{"together", func(s *Session) bool { return s.SendPreparedMany([]*Prepared{one, two}) },
			[]string{"4one", "4two", "bin:\x07"}, []string{"4one", "4two", "bin:\x04\x07"}, "4one\x1e4two\x1ebBw=="},
	}
	ts := startServer(t, Options{AllowEIO3: true})
	seen := map[*Session]bool{} // the rounds before's, closed
	for _, c := range cases {
		for _, compress := range []bool{false, true} {
			ws := dialWS(t, ts.ws, compress)
			ws.next(t, 0)
			ws3 := dialWS(t, strings.Replace(ts.ws, "EIO=4", "EIO=3", 1), compress)
			ws3.next(t, 0)
			sid := ts.handshake(t)
			sessions := newSessions(ts, seen)
			if len(sessions) != 3 {
				t.Fatalf("%d new sessions, want 3", len(sessions))
			}
			for _, s := range sessions {
				if !c.send(s) {
					t.Fatalf("%s, compress=%v: an open session (%s) refused", c.name, compress, s.Transport())
				}
			}
			for i, want := range c.ws {
				if m := ws.next(t, i+1); m != want {
					t.Fatalf("%s, compress=%v: ws message %d is %q, want %q", c.name, compress, i, m, want)
				}
			}
			for i, want := range c.ws3 {
				if m := ws3.next(t, i+1); m != want {
					t.Fatalf("%s, compress=%v: v3 ws message %d is %q, want %q", c.name, compress, i, m, want)
				}
			}
			if _, body := get(t, ts.url+"&sid="+sid); body != c.pollBody {
				t.Fatalf("%s: polling got %q", c.name, body)
			}
			ts.srv.Close("test over")
			ts.srv.closing = false
			for _, s := range sessions {
				if c.send(s) {
					t.Fatalf("%s: a closed session took a message", c.name)
				}
			}
		}
	}
}

// newSessions returns the server's sessions not in seen, and adds them to it.
func newSessions(ts *testServer, seen map[*Session]bool) []*Session {
	var sessions []*Session
	ts.srv.mu.Lock()
	defer ts.srv.mu.Unlock()
	for _, s := range ts.srv.sessions {
		if !seen[s] {
			sessions = append(sessions, s)
			seen[s] = true
		}
	}
	return sessions
}

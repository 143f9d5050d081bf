package recovery

import (
	"bytes"
	"testing"
	"time"
)

// FuzzJournalReplay: a journal of any bytes is read without a panic, and what it yields can
// be recovered from: every kept state's sockets can be replayed to.
func FuzzJournalReplay(f *testing.F) {
	var seed []byte
	var w journalWriter
	for _, r := range []*record{
		{Kind: recHeader, Epoch: "e", Seq: 1},
		{Kind: recBroadcast, At: time.Now().UnixMilli(), Nsp: "/", Data: []any{"m", 1.0, []byte{1}}, Rooms: []string{"/\x00r"}},
		{Kind: recConnected, PID: "p", ID: "s", Nsp: "/", Rooms: []string{"/", "/\x00s"}, Seq: 1},
		{Kind: recJoined, PID: "p", Rooms: []string{"/\x00r"}},
		{Kind: recKept, PID: "q", ID: "t", Nsp: "/", Rooms: []string{"/\x00r"}, Seq: 1, At: time.Now().Add(time.Minute).UnixMilli()},
		{Kind: recLeft, PID: "p", Rooms: []string{"/\x00r"}},
		{Kind: recGone, PID: "q"},
	} {
		b, err := w.encode(r)
		if err != nil {
			f.Fatal(err)
		}
		seed = append(seed, b...)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		l := New(Options{Window: time.Minute})
		l.journal = &journal{live: make(map[string]*record)}
		l.mu.Lock()
		defer l.mu.Unlock()
		if err := l.replay(bytes.NewReader(b), time.Now()); err != nil {
			return
		}
		l.journal = nil // written to no file
		for pid, s := range l.kept {
			s.expiry.Stop()
			if saved, from, ok := l.take(Claim{PID: pid, Nsp: s.nsp, Who: s.who}); ok {
				l.missed(from, saved.sid, saved.rooms)
			}
		}
	})
}

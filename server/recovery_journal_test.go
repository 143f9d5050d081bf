package server

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"
)

// FuzzJournalReplay: a journal of any bytes is read without a panic, and what it yields can
// be recovered from: every kept state's sockets can be replayed to.
func FuzzJournalReplay(f *testing.F) {
	var seed []byte
	var w journalWriter
	for _, r := range []*journalRecord{
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
	srv := New(Options{})
	f.Fuzz(func(t *testing.T, b []byte) {
		l := newRecoveryLog(RecoveryOptions{Window: time.Minute})
		l.journal = &journal{live: make(map[string]*journalRecord)}
		l.mu.Lock()
		defer l.mu.Unlock()
		if err := l.replay(srv, bytes.NewReader(b), time.Now()); err != nil {
			return
		}
		l.journal = nil // written to no file
		for pid, s := range l.sessions {
			s.expiry.Stop()
			if saved, from, ok := l.take(pid, "", s.nsp, s.who); ok {
				l.missed(from, saved.sid, saved.rooms)
			}
		}
	})
}

// BenchmarkLoggedBroadcast is what the recovery log costs a broadcast (to a room with no
// member here): kept in memory, and also written to the journal.
func BenchmarkLoggedBroadcast(b *testing.B) {
	payload := map[string]any{"id": "0000000000001", "roomId": "room", "userId": "alice", "username": "Alice",
		"content": "hello, everyone in the room", "createdAt": "2026-11-26T16:40:00.123Z"}
	for _, journal := range []bool{false, true} {
		b.Run(map[bool]string{false: "memory", true: "journal"}[journal], func(b *testing.B) {
			opts := Options{Recovery: RecoveryOptions{Window: time.Minute}}
			if journal {
				opts.Recovery.Journal = filepath.Join(b.TempDir(), "recovery.journal")
			}
			io := New(opts)
			defer io.shards.Close()
			b.ReportAllocs()
			for range b.N {
				_ = io.To("room").Emit("new-message", payload)
			}
		})
	}
}

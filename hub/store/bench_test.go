package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// appendLoad runs b.N appends to one room from `senders` goroutines, each with its own
// clientMsgId when cmid is set, and reports acks/s.
func appendLoad(b *testing.B, s Store, senders int, cmid ...bool) {
	msg := Message{RoomID: "bench", UserID: "u", Username: "User", Content: strings.Repeat("x", 100)}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for k := next.Add(1); k <= int64(b.N); k = next.Add(1) {
				m := msg
				m.UserID = fmt.Sprint("u", g)
				if len(cmid) > 0 && cmid[0] {
					m.ClientMsgID = fmt.Sprint("c", k)
				}
				if _, _, err := s.Append(bg, &m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "acks/s")
}

// BenchmarkAppendBolt: durable appends (real fsync) through the committer and, for
// comparison, through bbolt's db.Batch.
func BenchmarkAppendBolt(b *testing.B) {
	for _, mode := range []struct {
		name    string
		dbBatch bool
	}{{"committer", false}, {"dbBatch", true}} {
		for _, senders := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%s/senders=%d", mode.name, senders), func(b *testing.B) {
				s := mustOpenBolt(b, filepath.Join(b.TempDir(), "bench.db"), BoltOptions{dbBatch: mode.dbBatch}).(*boltStore)
				defer s.Close()
				appendLoad(b, s, senders)
				if c := s.commits.Load(); c > 0 {
					b.ReportMetric(float64(s.writes.Load())/float64(c), "msgs/commit")
				}
			})
		}
	}
}

func BenchmarkAppendMemory(b *testing.B) {
	for _, senders := range []int{1, 16} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			appendLoad(b, NewMemory(), senders)
		})
	}
}

// bigRoom fills room "big" of s with n messages from 64 senders (u0 to u63).
func bigRoom(b *testing.B, s Store, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				_, _, err := s.Append(bg, &Message{RoomID: "big", UserID: fmt.Sprint("u", g), Username: "User",
					Content: strings.Repeat("y", 100)})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// BenchmarkHistory: pages of a room with 100,000 messages, and its unread count.
func BenchmarkHistory(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "big.db")
	loader := mustOpenBolt(b, path, BoltOptions{NoSync: true})
	begin := time.Now()
	bigRoom(b, loader, n)
	b.Logf("bolt: %d messages loaded in %v (NoSync)", n, time.Since(begin).Round(time.Millisecond))
	loader.Close()
	bs := mustOpenBolt(b, path, BoltOptions{})
	defer bs.Close()
	ms := NewMemory()
	bigRoom(b, ms, n)

	for _, e := range []struct {
		name string
		s    Store
	}{{"bolt", bs}, {"memory", ms}} {
		all := walkForward(&harness{t: b, s: e.s}, "big")
		if len(all) != n {
			b.Fatalf("%s: %d messages", e.name, len(all))
		}
		mid := all[n/2].ID
		for _, q := range []struct {
			name string
			q    HistoryQuery
		}{
			{"before-middle", HistoryQuery{Before: mid, Limit: 50}},
			{"after-middle", HistoryQuery{After: mid, Limit: 50}},
			{"newest", HistoryQuery{Limit: 50}},
		} {
			b.Run(e.name+"/"+q.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					msgs, _, err := e.s.History(bg, "big", q.q)
					if err != nil || len(msgs) != 50 {
						b.Fatalf("History: %d, %v", len(msgs), err)
					}
				}
			})
		}
		if err := e.s.MarkRead(bg, "big", "u0", mid); err != nil {
			b.Fatal(err)
		}
		b.Run(e.name+"/readstate-10k-unread", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, unread, err := e.s.ReadState(bg, "big", "u0"); err != nil || unread != MaxUnread {
					b.Fatalf("ReadState: %d, %v", unread, err)
				}
			}
		})
		b.Run(e.name+"/get", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.s.Get(bg, mid); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

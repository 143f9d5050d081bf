package shard

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type member struct {
	name string
	mu   sync.Mutex
	got  []any
}

func (m *member) Deliver(msg any) {
	m.mu.Lock()
	m.got = append(m.got, msg)
	m.mu.Unlock()
}

func (m *member) received() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]any(nil), m.got...)
}

// broadcastAndWait sends b and waits until every shard has delivered it.
func broadcastAndWait(g *Group, b *Broadcast) {
	done := make(chan struct{})
	b.Done = func() { close(done) }
	g.Broadcast(b)
	<-done
}

func newMembers(g *Group, n int) []*member {
	ms := make([]*member, n)
	for i := range ms {
		ms[i] = &member{name: fmt.Sprint("m", i)}
	}
	return ms
}

func TestBroadcastReachesRoomMembersOnceEach(t *testing.T) {
	g := New(4, 16)
	defer g.Close()
	ms := newMembers(g, 10)
	for i, m := range ms {
		s := g.For(m.name)
		if i%2 == 0 {
			s.Join(m, "even", "all")
		} else {
			s.Join(m, "odd", "all")
		}
	}
	broadcastAndWait(g, &Broadcast{Rooms: []string{"even", "all"}, Msg: "hi"})
	for i, m := range ms {
		if got := m.received(); len(got) != 1 || got[0] != "hi" {
			t.Fatalf("member %d got %v, want exactly one hi", i, got)
		}
	}
	broadcastAndWait(g, &Broadcast{Rooms: []string{"even"}, Msg: "evens"})
	for i, m := range ms {
		want := 1
		if i%2 == 0 {
			want = 2
		}
		if got := len(m.received()); got != want {
			t.Fatalf("member %d got %d messages, want %d", i, got, want)
		}
	}
}

func TestBroadcastExceptAndSkip(t *testing.T) {
	g := New(2, 16)
	defer g.Close()
	a, b, c := &member{name: "a"}, &member{name: "b"}, &member{name: "c"}
	for _, m := range []*member{a, b, c} {
		g.For(m.name).Join(m, "room")
	}
	g.For("c").Join(c, "muted")
	broadcastAndWait(g, &Broadcast{Rooms: []string{"room"}, Except: []string{"muted"}, Skip: a, Msg: 1})
	if len(a.received()) != 0 || len(c.received()) != 0 || len(b.received()) != 1 {
		t.Fatalf("a=%v b=%v c=%v: want only b to receive", a.received(), b.received(), c.received())
	}
}

func TestLeaveAndRooms(t *testing.T) {
	g := New(3, 16)
	defer g.Close()
	m := &member{name: "x"}
	s := g.For(m.name)
	s.Join(m, "r1", "r2", "r3", "r2")
	if got := s.Rooms(m); !slices.Equal(got, []string{"r1", "r2", "r3"}) {
		t.Fatalf("rooms = %v", got)
	}
	s.Leave(m, "r2", "nope")
	if got := s.Rooms(m); !slices.Equal(got, []string{"r1", "r3"}) {
		t.Fatalf("rooms after leave = %v", got)
	}
	if n := g.Count("r1", "r3"); n != 2 {
		t.Fatalf("count = %d, want 2", n)
	}
	s.LeaveAll(m)
	if got := s.Rooms(m); len(got) != 0 {
		t.Fatalf("rooms after LeaveAll = %v", got)
	}
	if n := g.Count("r1"); n != 0 {
		t.Fatalf("count after LeaveAll = %d", n)
	}
	broadcastAndWait(g, &Broadcast{Rooms: []string{"r1"}, Msg: 1})
	if len(m.received()) != 0 {
		t.Fatal("a member that left still receives")
	}
}

func TestOrderPerShard(t *testing.T) {
	g := New(2, 4)
	defer g.Close()
	m := &member{name: "o"}
	s := g.For(m.name)
	s.Join(m, "r")
	for i := range 100 {
		g.Broadcast(&Broadcast{Rooms: []string{"r"}, Msg: i})
	}
	ran := make(chan struct{})
	s.Do(func() { close(ran) })
	<-ran
	got := m.received()
	for i, v := range got {
		if v != i {
			t.Fatalf("message %d is %v: shard reordered", i, v)
		}
	}
	if len(got) != 100 {
		t.Fatalf("got %d messages, want 100", len(got))
	}
}

func TestClosedGroupDropsWork(t *testing.T) {
	g := New(2, 1)
	m := &member{name: "late"}
	g.Close()
	g.Close() // twice is fine
	s := g.For(m.name)
	s.Join(m, "r")
	if r := s.Rooms(m); r != nil {
		t.Fatalf("rooms from a closed shard = %v", r)
	}
	var done atomic.Int32
	g.Broadcast(&Broadcast{Rooms: []string{"r"}, Msg: 1, Done: func() { done.Add(1) }})
	if done.Load() != 1 {
		t.Fatal("Done not called once for a broadcast on a closed group")
	}
	if g.Count("r") != 0 {
		t.Fatal("count on a closed group")
	}
}

func TestNewDefaults(t *testing.T) {
	g := New(0, 0)
	defer g.Close()
	if g.Len() != 1 {
		t.Fatalf("Len = %d, want 1", g.Len())
	}
}

// BenchmarkBroadcast10k delivers one message to 10,000 members spread over the shards.
func BenchmarkBroadcast10k(b *testing.B) {
	g := New(2, 1024)
	defer g.Close()
	var delivered atomic.Int64
	ms := make([]countingMember, 10_000)
	for i := range ms {
		ms[i].n = &delivered
		g.For(fmt.Sprint(i)).Join(&ms[i], "room")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		broadcastAndWait(g, &Broadcast{Rooms: []string{"room"}, Msg: 1})
	}
	b.ReportMetric(float64(delivered.Load())/float64(b.N), "deliveries/op")
}

type countingMember struct{ n *atomic.Int64 }

func (c *countingMember) Deliver(any) { c.n.Add(1) }

// A room goes from one member to many and back: every step delivers to exactly the
// members it has, and an emptied room is gone.
func TestRoomGrowsAndShrinks(t *testing.T) {
	g := New(1, 16)
	defer g.Close()
	ms := newMembers(g, 3)
	s := g.For("any") // one shard: every member in it
	counts := func(want ...int) {
		t.Helper()
		for i, m := range ms {
			if got := len(m.received()); got != want[i] {
				t.Fatalf("member %d has %d messages, want %d", i, got, want[i])
			}
		}
	}
	s.Join(ms[0], "r")
	s.Join(ms[0], "r") // joining twice changes nothing
	broadcastAndWait(g, &Broadcast{Rooms: []string{"r"}, Msg: 1})
	counts(1, 0, 0)
	s.Join(ms[1], "r")
	s.Join(ms[2], "r")
	broadcastAndWait(g, &Broadcast{Rooms: []string{"r", "elsewhere"}, Msg: 2})
	counts(2, 1, 1)
	s.Leave(ms[0], "r")
	s.Leave(ms[1], "r")
	broadcastAndWait(g, &Broadcast{Rooms: []string{"r"}, Except: []string{"nobody"}, Msg: 3})
	counts(2, 1, 2)
	if n := g.Count("r"); n != 1 {
		t.Fatalf("count %d, want 1", n)
	}
	s.Leave(ms[2], "r")
	s.Leave(ms[2], "r")
	if n := g.Count("r"); n != 0 || g.Rooms() != 0 {
		t.Fatalf("emptied room: count %d, rooms %d", n, g.Rooms())
	}
	s.Join(ms[1], "solo")
	broadcastAndWait(g, &Broadcast{Rooms: []string{"solo"}, Except: []string{"solo"}, Msg: 4})
	broadcastAndWait(g, &Broadcast{Rooms: []string{"solo", "r"}, Skip: ms[1], Msg: 5})
	counts(2, 1, 2)
}

// TestQueueWaitObserved: every shard reports each broadcast's wait in its queue, and a
// broadcast stuck behind a slow operation reports at least that operation's time.
func TestQueueWaitObserved(t *testing.T) {
	g := New(2, 16)
	defer g.Close()
	var mu sync.Mutex
	var waits []time.Duration
	g.ObserveQueueWait(func(d time.Duration) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	})
	m := &member{name: "m"}
	g.For(m.name).Join(m, "r")

	const stall = 30 * time.Millisecond
	release := make(chan struct{})
	for _, s := range g.All() {
		s.Do(func() { <-release })
	}
	done := make(chan struct{})
	g.Broadcast(&Broadcast{Rooms: []string{"r"}, Msg: "hi", Done: func() { close(done) }})
	time.Sleep(stall)
	close(release)
	<-done

	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 2 {
		t.Fatalf("%d waits observed, want one per shard (2)", len(waits))
	}
	for _, w := range waits {
		if w < stall {
			t.Errorf("wait %v behind a %v stall", w, stall)
		}
	}
	if got := m.received(); len(got) != 1 {
		t.Errorf("member got %v", got)
	}
}

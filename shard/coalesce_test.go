package shard

import (
	"slices"
	"sync"
	"testing"
)

// batchMember records each call: one element per Deliver, one slice per DeliverBatch.
type batchMember struct {
	mu    sync.Mutex
	calls [][]any
}

func (m *batchMember) Deliver(msg any) { m.record([]any{msg}) }

func (m *batchMember) DeliverBatch(msgs []any) { m.record(slices.Clone(msgs)) }

func (m *batchMember) record(msgs []any) {
	m.mu.Lock()
	m.calls = append(m.calls, msgs)
	m.mu.Unlock()
}

func (m *batchMember) got() [][]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// Broadcasts that queue up behind a busy shard reach each member in one call, in order,
// with the rooms and exclusions each broadcast had; a join between them is applied between
// them.
func TestQueuedBroadcastsAreDeliveredTogether(t *testing.T) {
	g := New(1, 64)
	defer g.Close()
	s := g.For("x")
	both, onlyA, excluded, late := &batchMember{}, &batchMember{}, &batchMember{}, &batchMember{}
	plain := &member{name: "plain"}
	s.Join(both, "a", "b")
	s.Join(onlyA, "a")
	s.Join(excluded, "a", "muted")
	s.Join(plain, "a", "b")

	release := make(chan struct{})
	s.Do(func() { <-release }) // hold the shard while the broadcasts queue up
	done := make(chan struct{}, 4)
	send := func(b *Broadcast) {
		b.Done = func() { done <- struct{}{} }
		g.Broadcast(b)
	}
	send(&Broadcast{Rooms: []string{"a"}, Except: []string{"muted"}, Msg: 1})
	send(&Broadcast{Rooms: []string{"a", "b"}, Msg: 2}) // both rooms: still once each
	send(&Broadcast{Rooms: []string{"b"}, Skip: plain, Msg: 3})
	s.Join(late, "a")
	send(&Broadcast{Rooms: []string{"a"}, Msg: 4})
	close(release)
	for range 4 {
		<-done
	}

	for _, c := range []struct {
		name string
		m    *batchMember
		want [][]any
	}{
		{"in a and b", both, [][]any{{1, 2, 3}, {4}}},
		{"in a", onlyA, [][]any{{1, 2}, {4}}},
		{"muted", excluded, [][]any{{2}, {4}}},
		{"joined after three", late, [][]any{{4}}},
	} {
		if got := c.m.got(); !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("%s: calls %v, want %v", c.name, got, c.want)
		}
	}
	if got := plain.received(); !slices.Equal(got, []any{1, 2, 4}) {
		t.Errorf("a member without batches got %v one by one, want [1 2 4]", got)
	}
}

// A shard that keeps up delivers each broadcast on its own.
func TestLoneBroadcastIsDeliveredAlone(t *testing.T) {
	g := New(1, 64)
	defer g.Close()
	s := g.For("x")
	m := &batchMember{}
	s.Join(m, "a")
	for i := range 3 {
		broadcastAndWait(g, &Broadcast{Rooms: []string{"a"}, Msg: i})
	}
	if got := m.got(); !slices.EqualFunc(got, [][]any{{0}, {1}, {2}}, slices.Equal) {
		t.Fatalf("calls %v", got)
	}
}

// Past maxGathered messages, members get what was gathered so far and the rest after it:
// nothing lost, nothing reordered.
func TestCoalescingPastTheGatherLimit(t *testing.T) {
	defer func(n int) { maxGathered = n }(maxGathered)
	maxGathered = 4
	g := New(1, 64)
	defer g.Close()
	s := g.For("x")
	a, b := &batchMember{}, &batchMember{}
	s.Join(a, "r")
	s.Join(b, "r")
	release := make(chan struct{})
	s.Do(func() { <-release })
	done := make(chan struct{}, 10)
	for i := range 10 {
		g.Broadcast(&Broadcast{Rooms: []string{"r"}, Msg: i, Done: func() { done <- struct{}{} }})
	}
	close(release)
	for range 10 {
		<-done
	}
	for _, m := range []*batchMember{a, b} {
		var all []any
		for _, call := range m.got() {
			if len(call) > 2 {
				t.Fatalf("a call of %d messages: 2 members may gather 4 at most", len(call))
			}
			all = append(all, call...)
		}
		if !slices.Equal(all, []any{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Fatalf("got %v", all)
		}
	}
}

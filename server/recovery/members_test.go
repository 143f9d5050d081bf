package recovery

import (
	"slices"
	"testing"
	"time"
)

// nopConn is a Member's socket that nothing closes.
type nopConn struct{}

func (nopConn) CloseTransport() {}

// connect restores a socket of user who (afresh, or from the state claim names) and
// returns its Member and what it missed; rooms are those it joins besides its restored ones.
func connect(t *testing.T, l *Log, c Claim, sid string, rooms ...string) (*Member, []Missed) {
	t.Helper()
	var m *Member
	var missed []Missed
	done := make(chan struct{})
	l.Restore(Request{Claim: c, SID: sid, Conn: nopConn{}}, nil, func(mm *Member, ms []Missed) []string {
		m, missed = mm, ms
		return append(slices.Clone(mm.Restored()), rooms...)
	}, func(after func()) {
		if after != nil {
			after()
		}
		close(done)
	})
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("restore did not finish")
	}
	return m, missed
}

// keep keeps m's state, in rooms, and waits until it is.
func keep(t *testing.T, l *Log, m *Member, rooms ...string) {
	t.Helper()
	ch := make(chan []string, 1)
	ch <- rooms
	l.Keep(m, ch)
	for deadline := time.Now().Add(2 * time.Second); !l.Kept(m.PID()); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the state was not kept")
		}
	}
}

// A claim by another user, here or from another node, neither takes a kept state nor
// spends it: its owner takes it after.
func TestAnotherUsersClaimLeavesTheState(t *testing.T) {
	l := New(Options{Window: time.Minute})
	alice, _ := connect(t, l, Claim{Nsp: "/", Who: "alice"}, "s1", "/", "r")
	keep(t, l, alice, "/", "r")
	l.Log(Broadcast{Nsp: "/", Data: []any{"m", 1.0}, Rooms: []string{"r"}}, func(string) {})

	theft := Claim{Nsp: "/", PID: alice.PID(), Who: "mallory"}
	if got := l.Claim(theft); got != nil {
		t.Fatalf("another node's claim for mallory got alice's state: %+v", got)
	}
	if m, missed := connect(t, l, theft, "s2"); m.Recovered() || m.PID() == alice.PID() || len(missed) > 0 {
		t.Fatalf("mallory recovered alice's socket: %+v", m)
	}
	if other := (Claim{Nsp: "/other", PID: alice.PID(), Who: "alice"}); l.Claim(other) != nil {
		t.Fatal("a claim from another namespace took the state")
	}
	if !l.Kept(alice.PID()) {
		t.Fatal("the attempts spent alice's state")
	}

	back, missed := connect(t, l, Claim{Nsp: "/", PID: alice.PID(), Who: "alice"}, "s3")
	if !back.Recovered() || back.SID() != "s1" || len(missed) != 1 || missed[0].Data[1] != 1.0 {
		t.Fatalf("alice back: recovered %v, sid %s, missed %v", back.Recovered(), back.SID(), missed)
	}
}

package hub

import (
	"context"
	"testing"

	"edgeio/hub/store"
)

// lostCommit is a store whose staged appends are told, then lost: the commit fails, as a
// full disk or an I/O error would make bolt's.
type lostCommit struct{ store.Store }

func (l lostCommit) AppendStaged(ctx context.Context, m *store.Message) (*store.Message, bool, func() error, error) {
	stored, created, err := l.Append(ctx, m)
	return stored, created, func() error { return store.ErrUnavailable }, err
}

// The room is shown a message while its commit runs; a commit that fails withdraws it with
// message-deleted and the sender's ack says UNAVAILABLE. With BroadcastAfterSync the room
// is shown nothing.
func TestSendMessageWithdrawnWhenItsCommitFails(t *testing.T) {
	f := newFixtureWith(t, Options{}, lostCommit{store.NewMemory()})
	alice, bob := f.connect("alice", false), f.connect("bob", true)
	ok(t, alice.Call("join-room", "general"))
	ok(t, bob.Call("join-room", "general"))
	alice.Event("room-member-joined")
	failed(t, alice.Call("send-message", map[string]any{"roomId": "general", "content": "lost"}), CodeUnavailable)
	shown := bob.Event("new-message")[0].(map[string]any)
	if withdrawn := bob.Event("message-deleted")[0]; withdrawn != shown["id"] {
		t.Fatalf("message-deleted %v, want the id %v", withdrawn, shown["id"])
	}

	strict := newFixtureWith(t, Options{BroadcastAfterSync: true}, lostCommit{store.NewMemory()})
	carol, dave := strict.connect("carol", false), strict.connect("dave", false)
	ok(t, carol.Call("join-room", "general"))
	ok(t, dave.Call("join-room", "general"))
	carol.Event("room-member-joined")
	failed(t, carol.Call("send-message", map[string]any{"roomId": "general", "content": "lost"}), CodeUnavailable)
	dave.NoEvent("new-message")
	dave.NoEvent("message-deleted")
}

// storedThenFailed is a store whose first append stores the message and then fails, as a
// Redis that goes away before its answer comes back.
type storedThenFailed struct {
	store.Store
	failed *bool
}

func (s storedThenFailed) Append(ctx context.Context, m *store.Message) (*store.Message, bool, error) {
	stored, created, err := s.Store.Append(ctx, m)
	if !*s.failed {
		*s.failed = true
		return nil, false, store.ErrUnavailable
	}
	return stored, created, err
}

// A send that failed after the store took it: the resend with the same clientMsgId gets
// the stored message, and the room hears of it then, once.
func TestResendOfAStoredButFailedSendIsAnnouncedOnce(t *testing.T) {
	once := false
	f := newFixtureWith(t, Options{}, storedThenFailed{store.NewMemory(), &once})
	alice, bob := f.connect("alice", false), f.connect("bob", true)
	ok(t, alice.Call("join-room", "general"))
	ok(t, bob.Call("join-room", "general"))
	alice.Event("room-member-joined")
	send := map[string]any{"roomId": "general", "content": "hello", "clientMsgId": "c1"}
	failed(t, alice.Call("send-message", send), CodeUnavailable)
	bob.NoEvent("new-message")
	first := ok(t, alice.Call("send-message", send))["message"].(map[string]any)
	if got := bob.Event("new-message")[0].(map[string]any); got["id"] != first["id"] {
		t.Fatalf("the room heard of %v, want %v", got["id"], first["id"])
	}
	again := ok(t, alice.Call("send-message", send))["message"].(map[string]any)
	if again["id"] != first["id"] {
		t.Fatalf("a second resend stored %v, want %v", again["id"], first["id"])
	}
	bob.NoEvent("new-message")
}

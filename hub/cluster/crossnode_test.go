package cluster

import (
	"context"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/hub/internal/redistest"
	"edgeio/server/servertest"

	"github.com/redis/go-redis/v9"
)

// pair is two nodes on one standalone Redis, sharing a Redis message store.
type pair struct {
	redis  *redistest.Server
	raw    *redis.Client // the test's own client
	n1, n2 *node
}

func startPair(t *testing.T) *pair {
	t.Helper()
	r := startRedis(t)
	c1, c2 := newClient(t, r.Addr()), newClient(t, r.Addr())
	p := &pair{redis: r, raw: newClient(t, r.Addr())}
	p.n1 = startNode(t, nodeConfig{id: "n1", client: c1, store: c1})
	p.n2 = startNode(t, nodeConfig{id: "n2", client: c2, store: c2})
	waitNodes(t, p.n1, p.n2)
	return p
}

// waitSubscribers waits until channel has want subscribers in Redis (nodes subscribe
// asynchronously, after the join that needs it has been answered).
func waitSubscribers(t testing.TB, rc *redis.Client, channel string, want int64) {
	t.Helper()
	var got int64
	eventually(t, 5*time.Second, "subscribers of "+channel, func() bool {
		n, err := rc.PubSubNumSub(context.Background(), channel).Result()
		got = n[channel]
		return err == nil && got == want
	})
}

func roomChannelOf(room string) string { return "socket.io#/#" + room + "#" }

func join(t testing.TB, c *servertest.Client, room string) {
	t.Helper()
	ackOK(t, c.Call("join-room", room))
}

func send(t testing.TB, c *servertest.Client, room, content string) map[string]any {
	t.Helper()
	ack := ackOK(t, c.Call("send-message", map[string]any{"roomId": room, "content": content}))
	return ack["message"].(map[string]any)
}

func TestCrossNodeChat(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	alice, bob := p.n1.connect("alice"), p.n2.connect("bob")

	join(t, bob, "r")
	waitSubscribers(t, p.raw, roomChannelOf("r"), 1)
	join(t, alice, "r")
	waitSubscribers(t, p.raw, roomChannelOf("r"), 2)

	// room-member-joined crosses to bob, once, and not back to alice
	ev := once(t, bob, "room-member-joined")
	if field(ev, "roomId") != "r" || field(field(ev, "user"), "userId") != "alice" {
		t.Fatalf("room-member-joined %v", ev)
	}
	alice.NoEvent("room-member-joined")

	// new-message: bob once, alice once (the node ignores its own echo)
	msg := send(t, alice, "r", "hello bob")
	for who, c := range map[string]*servertest.Client{"alice": alice, "bob": bob} {
		got := once(t, c, "new-message")
		if field(got, "id") != msg["id"] || field(got, "content") != "hello bob" || field(got, "userId") != "alice" {
			t.Fatalf("%s: new-message %v, want %v", who, got, msg)
		}
	}

	// typing reaches the other node, not the typist
	ackOK(t, alice.Call("typing-start", "r"))
	if ev := once(t, bob, "user-typing"); field(ev, "userId") != "alice" || field(ev, "isTyping") != true {
		t.Fatalf("user-typing %v", ev)
	}
	ackOK(t, alice.Call("typing-stop", "r"))
	if ev := once(t, bob, "user-typing"); field(ev, "isTyping") != false {
		t.Fatalf("user-typing %v", ev)
	}
	alice.NoEvent("user-typing")

	// receipts from node 2 reach node 1
	ackOK(t, bob.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{msg["id"]}}))
	ev = once(t, alice, "messages-read")
	if field(ev, "userId") != "bob" || field(ev, "roomId") != "r" {
		t.Fatalf("messages-read %v", ev)
	}
	if ids, _ := field(ev, "messageIds").([]any); len(ids) != 1 || ids[0] != msg["id"] {
		t.Fatalf("messages-read %v", ev)
	}

	// history is shared through the Redis store
	hist := ackOK(t, bob.Call("get-history", map[string]any{"roomId": "r"}))
	if list, _ := hist["messages"].([]any); len(list) != 1 || field(list[0], "id") != msg["id"] {
		t.Fatalf("history on node 2: %v", hist)
	}

	// edits and deletes cross too
	ackOK(t, alice.Call("edit-message", map[string]any{"messageId": msg["id"], "content": "hello again"}))
	if ev := once(t, bob, "message-edited"); field(ev, "messageId") != msg["id"] || field(ev, "content") != "hello again" {
		t.Fatalf("message-edited %v", ev)
	}
	ackOK(t, alice.Call("delete-message", msg["id"]))
	if ev := once(t, bob, "message-deleted"); ev != msg["id"] {
		t.Fatalf("message-deleted %v", ev)
	}
	once(t, alice, "message-edited")
	once(t, alice, "message-deleted")

	// a message from node 2 reaches node 1 once
	msg2 := send(t, bob, "r", "hi alice")
	if got := once(t, alice, "new-message"); field(got, "id") != msg2["id"] {
		t.Fatalf("new-message %v", got)
	}
	once(t, bob, "new-message")

	if p.n1.cl.Stats().Published.Load() == 0 || p.n2.cl.Stats().Received.Load() == 0 {
		t.Fatalf("stats n1 published %d, n2 received %d", p.n1.cl.Stats().Published.Load(), p.n2.cl.Stats().Received.Load())
	}
}

func TestCrossNodePresence(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	alice, bob := p.n1.connect("alice"), p.n2.connect("bob")
	join(t, bob, "r")
	waitSubscribers(t, p.raw, roomChannelOf("r"), 1)
	time.Sleep(settle) // bob's room-member-joined has gone by
	join(t, alice, "r")
	waitSubscribers(t, p.raw, roomChannelOf("r"), 2)
	once(t, bob, "room-member-joined")

	// node 2 lists alice (remote) and bob; node 1 lists both too
	want := func(m map[string]string) bool { return m["alice"] == "online" && m["bob"] == "online" && len(m) == 2 }
	waitPresence(t, bob, "r", "alice and bob online", want)
	waitPresence(t, alice, "r", "alice and bob online", want)

	// update-presence on node 1 reaches bob on node 2 once; node 2 shows the new status
	ackOK(t, alice.Call("update-presence", "away"))
	if ev := once(t, bob, "presence-update"); field(ev, "userId") != "alice" || field(ev, "status") != "away" {
		t.Fatalf("presence-update %v", ev)
	}
	alice.NoEvent("presence-update")
	waitPresence(t, bob, "r", "alice away", func(m map[string]string) bool { return m["alice"] == "away" })

	// alice's second socket, on node 2, joins r: she is already there (on node 1), so no
	// room-member-joined anywhere
	alice2 := p.n2.connect("alice")
	join(t, alice2, "r")
	time.Sleep(settle)
	bob.NoEvent("room-member-joined")
	alice.NoEvent("room-member-joined")

	// a status change on node 1 reaches bob, and alice's node-2 socket, once each
	ackOK(t, alice.Call("update-presence", "busy"))
	for who, c := range map[string]*servertest.Client{"bob": bob, "alice2": alice2} {
		if ev := once(t, c, "presence-update"); field(ev, "userId") != "alice" || field(ev, "status") != "busy" {
			t.Fatalf("%s: presence-update %v", who, ev)
		}
	}

	// alice's node-2 socket leaves: she is still in r on node 1, so no room-member-left
	ackOK(t, alice2.Call("leave-room", "r"))
	time.Sleep(settle)
	bob.NoEvent("room-member-left")
	alice.NoEvent("room-member-left")

	// alice leaves on node 1 too: now bob hears it, once
	ackOK(t, alice.Call("leave-room", "r"))
	if ev := once(t, bob, "room-member-left"); field(ev, "userId") != "alice" {
		t.Fatalf("room-member-left %v", ev)
	}
	waitPresence(t, bob, "r", "alice gone", func(m map[string]string) bool { _, in := m["alice"]; return !in && m["bob"] == "online" })
}

// A node that starts after another already has users learns them, also when its pub/sub
// connection is slower to subscribe than its first hello is to go out (the others answer
// that hello with their state at once).
func TestLateNodeLearnsExistingUsers(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	raw := newClient(t, r.Addr())
	n1 := startNode(t, nodeConfig{id: "n1", client: newClient(t, r.Addr())})
	alice := n1.connect("alice")
	join(t, alice, "r")
	waitSubscribers(t, raw, roomChannelOf("r"), 1)

	px := startProxy(t, r.Addr())
	px.HoldSubscribe(4 * testHeartbeat)
	n2 := startNode(t, nodeConfig{id: "n2", client: newClient(t, px.Addr())})
	waitNodes(t, n1, n2)
	bob := n2.connect("bob")
	join(t, bob, "r")
	waitPresence(t, bob, "r", "listing alice from node 1", func(m map[string]string) bool {
		return m["alice"] == "online" && m["bob"] == "online"
	})
	// and since node 2 knows alice is in r, her joining there too is not announced
	alice2 := n2.connect("alice")
	join(t, alice2, "r")
	time.Sleep(settle)
	bob.NoEvent("room-member-joined")
}

func TestSubscriptionsFollowMembers(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	carol, bob := p.n1.connect("carol"), p.n2.connect("bob")
	join(t, carol, "q")
	join(t, bob, "r")
	waitSubscribers(t, p.raw, roomChannelOf("q"), 1)
	waitSubscribers(t, p.raw, roomChannelOf("r"), 1)
	time.Sleep(settle) // let the joins' own traffic land

	received := func() uint64 { return p.n2.cl.Stats().Received.Load() }
	published := p.n1.cl.Stats().Published.Load()
	before := received()
	for i := 0; i < 3; i++ {
		send(t, carol, "q", "only node 1 serves q")
	}
	eventually(t, 2*time.Second, "node 1 to publish", func() bool { return p.n1.cl.Stats().Published.Load() >= published+3 })
	time.Sleep(settle)
	if got := received(); got != before {
		t.Fatalf("node 2 received %d broadcasts of room q it has no member in", got-before)
	}

	// dave joins q on node 2: node 2 subscribes and q's traffic arrives there
	dave := p.n2.connect("dave")
	join(t, dave, "q")
	waitSubscribers(t, p.raw, roomChannelOf("q"), 2)
	once(t, carol, "room-member-joined")
	before = received()
	msg := send(t, carol, "q", "now node 2 serves q")
	if got := once(t, dave, "new-message"); field(got, "id") != msg["id"] {
		t.Fatalf("new-message %v", got)
	}
	if received() <= before {
		t.Fatal("node 2 counted no broadcast of q")
	}
	bob.NoEvent("new-message")

	// the last member of q on node 2 leaves: node 2 unsubscribes
	ackOK(t, dave.Call("leave-room", "q"))
	waitSubscribers(t, p.raw, roomChannelOf("q"), 1)
	once(t, carol, "room-member-left")
	time.Sleep(settle)
	before = received()
	send(t, carol, "q", "node 2 left q")
	time.Sleep(settle)
	if got := received(); got != before {
		t.Fatalf("node 2 received %d broadcasts of q after its last member left", got-before)
	}
	dave.NoEvent("new-message")

	// Personal rooms have no channel subscription each: every node receives them through
	// its one pattern, delivers what is for a user it holds, and drops the rest unread.
	waitSubscribers(t, p.raw, roomChannelOf("user:dave"), 0)
	if n := p.raw.PubSubNumPat(context.Background()).Val(); n != 1 {
		t.Fatalf("%d patterns subscribed, want the nodes' one", n)
	}
	toDave := func(content string) {
		t.Helper()
		if err := p.n1.io.Lookup("/").To("user:dave").Emit("note", content); err != nil {
			t.Fatal(err)
		}
	}
	toDave("for dave")
	if got := dave.Event("note"); len(got) != 1 || got[0] != "for dave" {
		t.Fatalf("note %v", got)
	}
	time.Sleep(settle)
	dave.NoEvent("note") // once
	dave.Send(&codec.SPacket{Type: codec.SDisconnect, Nsp: "/", ID: codec.NoID})
	eventually(t, 2*time.Second, "node 2 to let go of dave", func() bool { return !p.n2.cl.wanted(roomChannelOf("user:dave")) })
	before = received()
	toDave("dave is gone")
	time.Sleep(settle)
	if got := received(); got != before {
		t.Fatalf("node 2 took %d broadcasts to the personal room of a user it no longer holds", got-before)
	}
}

// A user's status is one, whichever node the user's sockets are on: a status chosen on one
// node shows on every node, also for the user's sockets there, as it does on a single node.
func TestStatusIsPerUserAcrossNodes(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	alice, bob := p.n1.connect("alice"), p.n2.connect("bob")
	join(t, alice, "r")
	join(t, bob, "r")
	waitSubscribers(t, p.raw, roomChannelOf("r"), 2)
	both := func(m map[string]string) bool { return m["alice"] == "online" && m["bob"] == "online" }
	waitPresence(t, bob, "r", "alice and bob online", both)

	ackOK(t, alice.Call("update-presence", "away"))
	waitPresence(t, bob, "r", "alice away on node 2", func(m map[string]string) bool { return m["alice"] == "away" })

	// alice opens a second socket on node 2: she is still away there
	alice2 := p.n2.connect("alice")
	join(t, alice2, "r")
	time.Sleep(settle)
	for _, c := range []*servertest.Client{alice, bob} {
		if got := presenceOf(t, c, "r")["alice"]; got != "away" {
			t.Errorf("alice is %q after a second socket on node 2, want away", got)
		}
	}

	// she turns busy on node 1: node 2 shows busy, not its own idea of her status
	ackOK(t, alice.Call("update-presence", "busy"))
	waitPresence(t, alice, "r", "alice busy on node 1", func(m map[string]string) bool { return m["alice"] == "busy" })
	waitPresence(t, bob, "r", "alice busy on node 2", func(m map[string]string) bool { return m["alice"] == "busy" })

	// and back online from node 2: node 1 follows
	ackOK(t, alice2.Call("update-presence", "online"))
	waitPresence(t, alice, "r", "alice online on node 1", func(m map[string]string) bool { return m["alice"] == "online" })
}

// Two processes started with one node id would each take the other's broadcasts for its
// own echoes: both say so in their logs, and a node with an id of its own does not.
func TestDuplicateNodeIDIsLogged(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	a := startNode(t, nodeConfig{id: "same", client: newClient(t, r.Addr())})
	b := startNode(t, nodeConfig{id: "same", client: newClient(t, r.Addr())})
	other := startNode(t, nodeConfig{id: "other", client: newClient(t, r.Addr())})
	const warning = `another node uses the node id "same"`
	eventually(t, 5*time.Second, "both duplicates warned", func() bool {
		return a.logged(warning) && b.logged(warning)
	})
	time.Sleep(settle)
	if other.logged("another node uses the node id") {
		t.Fatal("a node with its own id was warned")
	}
}

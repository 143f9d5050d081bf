package hub

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/hub/store"
	"edgeio/server"
	"edgeio/server/auth"
	"edgeio/server/servertest"
)

var secret = []byte("test-secret")

type fixture struct {
	t     *testing.T
	io    *server.Server
	hub   *Hub
	store store.Store
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	return newFixtureWith(t, opts, store.NewMemory())
}

func newFixtureWith(t *testing.T, opts Options, st store.Store) *fixture {
	t.Helper()
	io := server.New(server.Options{})
	v, err := auth.NewVerifier(auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	h := New(st, v, opts)
	h.Install(io)
	t.Cleanup(func() {
		h.Close()
		_ = io.Shutdown(t.Context())
	})
	return &fixture{t: t, io: io, hub: h, store: st}
}

func token(t *testing.T, sub, name string, rooms []string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Mint(secret, sub, name, rooms, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// connect opens a socket for user sub (msgpack when asked) and checks it was accepted.
func (f *fixture) connect(sub string, msgpack bool, rooms ...string) *servertest.Client {
	f.t.Helper()
	var claim []string
	if len(rooms) > 0 {
		claim = rooms
	}
	c := servertest.Dial(f.t, f.io.Engine(), msgpack)
	if p := c.Connect("/", map[string]any{"token": token(f.t, sub, strings.ToUpper(sub[:1])+sub[1:], claim, time.Hour)}); p.Type != codec.SConnect {
		f.t.Fatalf("%s refused: %+v", sub, p)
	}
	return c
}

func ok(t *testing.T, ack []any) map[string]any {
	t.Helper()
	m, _ := ack[0].(map[string]any)
	if m["ok"] != true {
		t.Fatalf("ack %v, want ok", ack)
	}
	return m
}

func failed(t *testing.T, ack []any, code string) {
	t.Helper()
	m, _ := ack[0].(map[string]any)
	e, _ := m["error"].(map[string]any)
	if m["ok"] != false || e["code"] != code || e["message"] == "" {
		t.Fatalf("ack %v, want error %s", ack, code)
	}
}

var isoPattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestAuthentication(t *testing.T) {
	f := newFixture(t, Options{})
	cases := []struct {
		auth map[string]any
		code string
	}{
		{nil, CodeUnauthorized},
		{map[string]any{"token": "garbage"}, CodeUnauthorized},
		{map[string]any{"token": token(t, "a", "", nil, -time.Hour)}, CodeTokenExpired},
	}
	for _, c := range cases {
		cl := servertest.Dial(t, f.io.Engine(), false)
		p := cl.Connect("/", c.auth)
		want := map[string]any{"message": "unauthorized", "data": map[string]any{"code": c.code}}
		if p.Type != codec.SConnectError || !reflect.DeepEqual(p.Data, want) {
			t.Fatalf("auth %v: %+v, want %v", c.auth, p, want)
		}
	}
}

func TestJoinLeaveAndMembershipEvents(t *testing.T) {
	f := newFixture(t, Options{})
	alice, alice2, bob := f.connect("alice", false), f.connect("alice", true), f.connect("bob", true)

	ack := ok(t, bob.Call("join-room", "general"))
	if ack["roomId"] != "general" || ack["lastReadId"] != nil || ack["unreadCount"] != 0.0 {
		t.Fatalf("join ack %v", ack)
	}
	ok(t, alice.Call("join-room", "general"))
	ev := bob.Event("room-member-joined")[0].(map[string]any)
	user := ev["user"].(map[string]any)
	if ev["roomId"] != "general" || user["userId"] != "alice" || user["username"] != "Alice" || user["status"] != "online" {
		t.Fatalf("room-member-joined %v", ev)
	}
	alice.NoEvent("room-member-joined")
	ok(t, alice2.Call("join-room", "general"))
	bob.NoEvent("room-member-joined") // alice was there already

	ok(t, alice.Call("leave-room", "general"))
	bob.NoEvent("room-member-left") // alice2 is still in
	ok(t, alice2.Call("leave-room", "general"))
	if ev := bob.Event("room-member-left")[0]; !reflect.DeepEqual(ev, map[string]any{"roomId": "general", "userId": "alice"}) {
		t.Fatalf("room-member-left %v", ev)
	}
	failed(t, alice.Call("leave-room", "general"), CodeNotInRoom)
	failed(t, alice.Call("join-room", "bad room"), CodeInvalidPayload)
	failed(t, alice.Call("join-room", 42.0), CodeInvalidPayload)
	failed(t, alice.Call("join-room"), CodeInvalidPayload)
	failed(t, alice.Call("join-room", "user:bob"), CodeForbidden)
	ok(t, alice.Call("join-room", "user:alice"))
}

func TestRoomClaimsAndPolicy(t *testing.T) {
	f := newFixture(t, Options{RoomPolicy: auth.RoomsClosed, MaxRoomsPerSocket: 2})
	limited := f.connect("carol", false, "team-*")
	ok(t, limited.Call("join-room", "team-red"))
	failed(t, limited.Call("join-room", "general"), CodeForbidden)
	failed(t, limited.Call("get-history", map[string]any{"roomId": "general"}), CodeForbidden)
	ok(t, limited.Call("join-room", "team-blue"))
	failed(t, limited.Call("join-room", "team-green"), CodeForbidden) // over the per-socket limit
	noClaim := f.connect("dave", false)
	failed(t, noClaim.Call("join-room", "anything"), CodeForbidden)
	ok(t, noClaim.Call("join-room", "user:dave"))
}

func TestSendMessage(t *testing.T) {
	f := newFixture(t, Options{MaxContentLength: 20})
	alice, bob := f.connect("alice", false), f.connect("bob", true)
	outsider := f.connect("eve", false)
	for _, c := range []*servertest.Client{alice, bob} {
		ok(t, c.Call("join-room", "general"))
	}
	alice.Event("room-member-joined")

	ack := ok(t, alice.Call("send-message", map[string]any{"roomId": "general", "content": "  <b>hi</b> & bye ", "clientMsgId": "c1"}))
	msg := ack["message"].(map[string]any)
	if msg["content"] != "hi &amp; bye" || msg["userId"] != "alice" || msg["username"] != "Alice" ||
		msg["roomId"] != "general" || msg["clientMsgId"] != "c1" || !isoPattern.MatchString(msg["createdAt"].(string)) {
		t.Fatalf("message %v", msg)
	}
	if _, has := msg["editedAt"]; has {
		t.Fatal("a new message has editedAt")
	}
	for _, c := range []*servertest.Client{alice, bob} {
		if got := c.Event("new-message")[0]; !reflect.DeepEqual(got, msg) {
			t.Fatalf("new-message %v, want %v", got, msg)
		}
	}
	outsider.NoEvent("new-message")

	// the same clientMsgId again: the stored message, no second broadcast
	again := ok(t, alice.Call("send-message", map[string]any{"roomId": "general", "content": "different", "clientMsgId": "c1"}))
	if !reflect.DeepEqual(again["message"], msg) {
		t.Fatalf("retry got %v", again["message"])
	}
	bob.NoEvent("new-message")

	bad := []map[string]any{
		{"roomId": "general"},
		{"roomId": "general", "content": 5.0},
		{"roomId": "general", "content": "   "},
		{"roomId": "general", "content": "x", "clientMsgId": 3.0},
		{"roomId": "general", "content": "x", "attachments": []any{map[string]any{"url": "javascript:alert(1)"}}},
		{"roomId": "general", "content": "x", "attachments": make([]any, 11)},
		{"roomId": "general", "content": "x", "attachments": []any{map[string]any{"name": "f", "data": "not bytes"}}},
		{"roomId": "bad room", "content": "x"},
	}
	for _, b := range bad {
		failed(t, alice.Call("send-message", b), CodeInvalidPayload)
	}
	failed(t, alice.Call("send-message", "just a string"), CodeInvalidPayload)
	failed(t, alice.Call("send-message", map[string]any{"roomId": "general", "content": strings.Repeat("x", 21)}), CodePayloadTooLarge)
	failed(t, outsider.Call("send-message", map[string]any{"roomId": "general", "content": "let me in"}), CodeNotInRoom)
	ctx := t.Context()
	if msgs, _, _ := f.store.History(ctx, "general", store.HistoryQuery{}); len(msgs) != 1 {
		t.Fatalf("%d messages stored after refusals, want 1", len(msgs))
	}
	// exactly the limit passes
	ok(t, alice.Call("send-message", map[string]any{"roomId": "general", "content": strings.Repeat("y", 20)}))
	alice.Event("new-message")
	bob.Event("new-message")

	// without an ack, a refusal comes as an error event
	alice.Emit("/", codec.NoID, "send-message", map[string]any{"roomId": "general"})
	if e := alice.Event("error")[0].(map[string]any); e["code"] != CodeInvalidPayload || e["message"] == "" {
		t.Fatalf("error event %v", e)
	}
	alice.Emit("/", codec.NoID, "no-such-event")
	alice.Event("error")

	// attachments: a link and inline bytes, which arrive as binary
	ack = ok(t, alice.Call("send-message", map[string]any{"roomId": "general", "content": "files", "attachments": []any{
		map[string]any{"url": "https://example.com/a.png", "name": "a.png", "type": "image/png", "size": 10.0},
		map[string]any{"name": "b.bin", "type": "application/octet-stream", "data": []byte{0, 1, 2}},
	}}))
	got := bob.Event("new-message")[0].(map[string]any)["attachments"].([]any)
	want := []any{
		map[string]any{"url": "https://example.com/a.png", "name": "a.png", "type": "image/png", "size": 10.0},
		map[string]any{"name": "b.bin", "type": "application/octet-stream", "data": []byte{0, 1, 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("attachments %#v", got)
	}
}

func TestEditDeleteAndHistory(t *testing.T) {
	f := newFixture(t, Options{})
	alice, bob := f.connect("alice", false), f.connect("bob", false)
	for _, c := range []*servertest.Client{alice, bob} {
		ok(t, c.Call("join-room", "r"))
	}
	var ids []string
	for i := range 5 {
		m := ok(t, alice.Call("send-message", map[string]any{"roomId": "r", "content": "m" + string(rune('0'+i))}))
		ids = append(ids, m["message"].(map[string]any)["id"].(string))
	}
	failed(t, bob.Call("edit-message", map[string]any{"messageId": ids[0], "content": "hijack"}), CodeForbidden)
	failed(t, bob.Call("delete-message", ids[0]), CodeForbidden)
	failed(t, alice.Call("edit-message", map[string]any{"messageId": "nope", "content": "x"}), CodeNotFound)
	failed(t, alice.Call("edit-message", map[string]any{"messageId": ids[0], "content": ""}), CodeInvalidPayload)

	ok(t, alice.Call("edit-message", map[string]any{"messageId": ids[1], "content": "edited"}))
	ev := bob.Event("message-edited")[0].(map[string]any)
	if ev["messageId"] != ids[1] || ev["roomId"] != "r" || ev["content"] != "edited" || !isoPattern.MatchString(ev["editedAt"].(string)) {
		t.Fatalf("message-edited %v", ev)
	}
	ok(t, alice.Call("delete-message", ids[2]))
	if ev := bob.Event("message-deleted")[0]; ev != ids[2] {
		t.Fatalf("message-deleted %v, want the id as a plain string", ev)
	}
	failed(t, alice.Call("delete-message", ids[2]), CodeNotFound)
	failed(t, alice.Call("edit-message", map[string]any{"messageId": ids[2], "content": "x"}), CodeNotFound)

	h := ok(t, bob.Call("get-history", map[string]any{"roomId": "r", "limit": 2.0}))
	msgs := h["messages"].([]any)
	if len(msgs) != 2 || h["hasMore"] != true || msgs[0].(map[string]any)["id"] != ids[3] || msgs[1].(map[string]any)["id"] != ids[4] {
		t.Fatalf("newest page %v", h)
	}
	h = ok(t, bob.Call("get-history", map[string]any{"roomId": "r", "before": ids[3]}))
	msgs = h["messages"].([]any)
	if len(msgs) != 3 || h["hasMore"] != false {
		t.Fatalf("page before %v", h)
	}
	edited, tomb := msgs[1].(map[string]any), msgs[2].(map[string]any)
	if edited["content"] != "edited" || edited["editedAt"] == nil {
		t.Fatalf("edited message in history %v", edited)
	}
	if tomb["deleted"] != true || tomb["id"] != ids[2] || !isoPattern.MatchString(tomb["deletedAt"].(string)) || tomb["content"] != nil {
		t.Fatalf("tombstone %v", tomb)
	}
	h = ok(t, bob.Call("get-history", map[string]any{"roomId": "r", "after": ids[0], "limit": 1.0}))
	if msgs := h["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["id"] != ids[1] || h["hasMore"] != true {
		t.Fatalf("page after %v", h)
	}
	for _, q := range []map[string]any{
		{"roomId": "r", "limit": 101.0}, {"roomId": "r", "limit": 0.0}, {"roomId": "r", "limit": 1.5},
		{"roomId": "r", "before": ids[1], "after": ids[0]}, {"roomId": 1.0},
	} {
		failed(t, bob.Call("get-history", q), CodeInvalidPayload)
	}
	failed(t, bob.Call("get-history", map[string]any{"roomId": "r", "before": "zzz"}), CodeNotFound)
}

func TestReadReceiptsAreMergedAndStored(t *testing.T) {
	f := newFixture(t, Options{ReceiptWindow: 50 * time.Millisecond})
	alice, bob := f.connect("alice", false), f.connect("bob", false)
	for _, c := range []*servertest.Client{alice, bob} {
		ok(t, c.Call("join-room", "r"))
	}
	var ids []string
	for range 4 {
		m := ok(t, alice.Call("send-message", map[string]any{"roomId": "r", "content": "hello"}))
		ids = append(ids, m["message"].(map[string]any)["id"].(string))
	}
	ok(t, bob.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{ids[0]}}))
	ok(t, bob.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{ids[1], ids[0]}}))
	ev := alice.Event("messages-read")[0].(map[string]any)
	if !reflect.DeepEqual(ev["messageIds"], []any{ids[0], ids[1]}) || ev["userId"] != "bob" || ev["roomId"] != "r" || !isoPattern.MatchString(ev["readAt"].(string)) {
		t.Fatalf("messages-read %v", ev)
	}
	alice.NoEvent("messages-read") // one event for both marks

	failed(t, bob.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{}}), CodeInvalidPayload)
	failed(t, bob.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": make([]any, 501)}), CodeInvalidPayload)
	failed(t, bob.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{"unknown"}}), CodeNotFound)
	failed(t, bob.Call("mark-as-read", map[string]any{"roomId": "other", "messageIds": []any{ids[0]}}), CodeNotInRoom)

	// the watermark comes back on join: two of alice's four messages are unread
	bob2 := f.connect("bob", false)
	ack := ok(t, bob2.Call("join-room", "r"))
	if ack["lastReadId"] != ids[1] || ack["unreadCount"] != 2.0 {
		t.Fatalf("join after reading: %v", ack)
	}
}

func TestTyping(t *testing.T) {
	f := newFixture(t, Options{TypingTimeout: 150 * time.Millisecond})
	alice, alice2, bob := f.connect("alice", false), f.connect("alice", false), f.connect("bob", false)
	for _, c := range []*servertest.Client{alice, alice2, bob} {
		ok(t, c.Call("join-room", "r"))
	}
	alice.Emit("/", codec.NoID, "typing-start", "r")
	ev := bob.Event("user-typing")[0]
	want := map[string]any{"roomId": "r", "userId": "alice", "username": "Alice", "isTyping": true}
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("user-typing %v", ev)
	}
	alice2.NoEvent("user-typing") // the typist's own sockets are not told
	alice.Emit("/", codec.NoID, "typing-start", "r")
	bob.NoEvent("user-typing") // a refresh is not re-sent
	alice.Emit("/", codec.NoID, "typing-stop", "r")
	if ev := bob.Event("user-typing")[0].(map[string]any); ev["isTyping"] != false {
		t.Fatalf("stop %v", ev)
	}

	alice.Emit("/", codec.NoID, "typing-start", "r")
	bob.Event("user-typing")
	start := time.Now()
	if ev := bob.Event("user-typing")[0].(map[string]any); ev["isTyping"] != false || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("timeout end %v after %v", ev, time.Since(start))
	}

	alice.Emit("/", codec.NoID, "typing-start", "r")
	bob.Event("user-typing")
	ok(t, alice.Call("send-message", map[string]any{"roomId": "r", "content": "done"}))
	if ev := bob.Event("user-typing")[0].(map[string]any); ev["isTyping"] != false {
		t.Fatalf("sending did not end typing: %v", ev)
	}
	failed(t, alice.Call("typing-start", "elsewhere"), CodeNotInRoom)
}

func TestPresence(t *testing.T) {
	f := newFixture(t, Options{PresenceGrace: 50 * time.Millisecond})
	alice, alice2, bob, carol := f.connect("alice", false), f.connect("alice", false), f.connect("bob", false), f.connect("carol", false)
	for _, c := range []*servertest.Client{alice, bob} {
		ok(t, c.Call("join-room", "r1"))
		ok(t, c.Call("join-room", "r2"))
	}
	ok(t, carol.Call("join-room", "r2"))

	ok(t, alice.Call("update-presence", "away"))
	for _, c := range []*servertest.Client{bob, carol, alice2} {
		if ev := c.Event("presence-update")[0]; !reflect.DeepEqual(ev, map[string]any{"userId": "alice", "status": "away"}) {
			t.Fatalf("presence-update %v", ev)
		}
	}
	bob.NoEvent("presence-update") // once per socket though bob shares two rooms
	alice.NoEvent("presence-update")
	failed(t, alice.Call("update-presence", "sleepy"), CodeInvalidPayload)

	users := ok(t, carol.Call("get-room-presence", "r2"))["users"].([]any)
	if len(users) != 3 || users[0].(map[string]any)["userId"] != "alice" || users[0].(map[string]any)["status"] != "away" {
		t.Fatalf("room presence %v", users)
	}
	if ev := carol.Event("room-presence")[0].(map[string]any); ev["roomId"] != "r2" || len(ev["users"].([]any)) != 3 {
		t.Fatalf("room-presence event %v", ev)
	}

	// invisible: others see offline
	ok(t, alice.Call("update-presence", "offline"))
	for _, c := range []*servertest.Client{bob, carol} {
		if ev := c.Event("presence-update")[0].(map[string]any); ev["status"] != "offline" {
			t.Fatalf("invisible %v", ev)
		}
	}
	users = ok(t, bob.Call("get-room-presence", "r1"))["users"].([]any)
	if users[0].(map[string]any)["status"] != "offline" {
		t.Fatalf("invisible user listed as %v", users[0])
	}

	// bob leaves and comes back inside the grace: no offline
	bob.Session().Close("transport close")
	bob = f.connect("bob", false)
	carol.NoEvent("presence-update")
	time.Sleep(80 * time.Millisecond)
	carol.NoEvent("presence-update")

	// alice's last socket goes: offline with lastSeen after the grace
	ok(t, bob.Call("join-room", "r2"))
	alice2.Session().Close("transport close")
	alice.Session().Close("transport close")
	if ev := bob.Event("room-member-left")[0].(map[string]any); ev["userId"] != "alice" {
		t.Fatalf("left %v", ev)
	}
	ev := bob.Event("presence-update")[0].(map[string]any)
	if ev["userId"] != "alice" || ev["status"] != "offline" || !isoPattern.MatchString(ev["lastSeen"].(string)) {
		t.Fatalf("offline %v", ev)
	}
}

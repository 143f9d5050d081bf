package hub

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server/servertest"
)

// A room of BigRoom members or more gets its members' joins, leaves, presence, receipts and
// typing coalesced once a tick; a smaller room keeps one event per member.
func TestBigRoomsCoalesceMemberEvents(t *testing.T) {
	const tick = 200 * time.Millisecond
	f := newFixture(t, Options{BigRoom: 3, BigRoomTick: tick, ReceiptWindow: 20 * time.Millisecond, PresenceGrace: time.Millisecond})
	watcher := f.connect("watcher", false)
	ok(t, watcher.Call("join-room", "big"))
	ok(t, watcher.Call("join-room", "small"))
	members := []*servertest.Client{}
	for i := range 5 {
		c := f.connect(fmt.Sprintf("user%d", i), i%2 == 1)
		ok(t, c.Call("join-room", "big"))
		members = append(members, c)
	}
	// the first join, making a room of two, was announced on its own
	for i := range 1 {
		if ev := watcher.Event("room-member-joined")[0].(map[string]any); ev["user"].(map[string]any)["userId"] != fmt.Sprintf("user%d", i) {
			t.Fatalf("join %d: %v", i, ev)
		}
	}
	// the next four, the room being big (three members with the joiner), come in one event
	ev := watcher.Event("room-members-changed")[0].(map[string]any)
	if ev["roomId"] != "big" || ev["memberCount"] != 6.0 || ev["joinedCount"] != 4.0 || ev["leftCount"] != 0.0 ||
		len(ev["joined"].([]any)) != 4 || len(ev["left"].([]any)) != 0 {
		t.Fatalf("room-members-changed %v", ev)
	}
	watcher.NoEvent("room-member-joined")

	// presence: one coalesced event for the big room; a small room still gets presence-update
	ok(t, members[3].Call("join-room", "small"))
	ok(t, members[3].Call("update-presence", "away"))
	ok(t, members[4].Call("update-presence", "busy"))
	if ev := watcher.Event("presence-update")[0]; !reflect.DeepEqual(ev, map[string]any{"userId": "user3", "status": "away"}) {
		t.Fatalf("small room's presence-update %v", ev)
	}
	ev = watcher.Event("room-presence-changed")[0].(map[string]any)
	want := []any{map[string]any{"userId": "user3", "status": "away"}, map[string]any{"userId": "user4", "status": "busy"}}
	if ev["roomId"] != "big" || ev["count"] != 2.0 || !reflect.DeepEqual(ev["users"], want) {
		t.Fatalf("room-presence-changed %v", ev)
	}
	watcher.NoEvent("presence-update")

	// receipts: the room hears of readers at the tick; the reader's own sockets at once
	msg := ok(t, members[0].Call("send-message", map[string]any{"roomId": "big", "content": "hello"}))["message"].(map[string]any)
	id := msg["id"].(string)
	reader2 := f.connect("user1", false)
	ok(t, members[1].Call("mark-as-read", map[string]any{"roomId": "big", "messageIds": []any{id}}))
	ok(t, members[2].Call("mark-as-read", map[string]any{"roomId": "big", "messageIds": []any{id}}))
	if ev := reader2.Event("messages-read")[0].(map[string]any); ev["userId"] != "user1" || ev["roomId"] != "big" {
		t.Fatalf("the reader's other socket: %v", ev)
	}
	ev = watcher.Event("room-reads")[0].(map[string]any)
	readers := []any{map[string]any{"userId": "user1", "lastReadId": id}, map[string]any{"userId": "user2", "lastReadId": id}}
	if ev["count"] != 2.0 || !reflect.DeepEqual(ev["readers"], readers) || !isoPattern.MatchString(ev["readAt"].(string)) {
		t.Fatalf("room-reads %v", ev)
	}
	watcher.NoEvent("messages-read")

	// typing: who types, the latest first, once a tick
	members[2].Emit("/", codec.NoID, "typing-start", "big")
	time.Sleep(5 * time.Millisecond)
	members[4].Emit("/", codec.NoID, "typing-start", "big")
	ev = watcher.Event("room-typing")[0].(map[string]any)
	typists := []any{map[string]any{"userId": "user4", "username": "User4"}, map[string]any{"userId": "user2", "username": "User2"}}
	if ev["count"] != 2.0 || !reflect.DeepEqual(ev["users"], typists) {
		t.Fatalf("room-typing %v", ev)
	}
	watcher.NoEvent("user-typing")
	members[2].Emit("/", codec.NoID, "typing-stop", "big")
	members[4].Emit("/", codec.NoID, "typing-stop", "big")
	if ev := watcher.Event("room-typing")[0].(map[string]any); ev["count"] != 0.0 || len(ev["users"].([]any)) != 0 {
		t.Fatalf("room-typing after the stops %v", ev)
	}

	// leaves and disconnects
	ok(t, members[0].Call("leave-room", "big"))
	members[1].Session().Close("transport close")
	reader2.Session().Close("transport close")
	ev = watcher.Event("room-members-changed")[0].(map[string]any)
	if ev["leftCount"] != 2.0 || !reflect.DeepEqual(ev["left"], []any{"user0", "user1"}) || ev["memberCount"] != 4.0 {
		t.Fatalf("room-members-changed after leaves %v", ev)
	}
	watcher.NoEvent("room-member-left")
}

// get-room-presence pages a big room (and any room when a page is asked for); a small room
// asked by its id answers every user, as it always did.
func TestRoomPresencePages(t *testing.T) {
	f := newFixture(t, Options{BigRoom: 5})
	var last *servertest.Client
	for i := range 7 {
		last = f.connect(fmt.Sprintf("u%d", i), false)
		ok(t, last.Call("join-room", "big"))
		if i < 3 {
			ok(t, last.Call("join-room", "small"))
		}
	}
	all := ok(t, last.Call("get-room-presence", "small"))
	if len(all["users"].([]any)) != 3 || all["hasMore"] != nil || all["memberCount"] != nil {
		t.Fatalf("a small room: %v", all)
	}
	var seen []any
	after := ""
	for page := 0; ; page++ {
		q := map[string]any{"roomId": "big", "limit": 3.0}
		if after != "" {
			q["after"] = after
		}
		a := ok(t, last.Call("get-room-presence", q))
		users := a["users"].([]any)
		if a["memberCount"] != 7.0 || len(users) > 3 {
			t.Fatalf("page %d: %v", page, a)
		}
		seen = append(seen, users...)
		if a["hasMore"] != true {
			break
		}
		after = users[len(users)-1].(map[string]any)["userId"].(string)
	}
	if len(seen) != 7 || seen[0].(map[string]any)["userId"] != "u0" || seen[6].(map[string]any)["userId"] != "u6" {
		t.Fatalf("pages: %v", seen)
	}
	first := ok(t, last.Call("get-room-presence", "big")) // a big room asked by id: the first page
	if len(first["users"].([]any)) != 7 || first["hasMore"] != false {
		t.Fatalf("big room by id: %v", first)
	}
	failed(t, last.Call("get-room-presence", map[string]any{"roomId": "big", "limit": 501.0}), CodeInvalidPayload)
}

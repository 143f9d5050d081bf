package hub

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"edgeio/codec"
	"edgeio/hub/store"
	"edgeio/server/servertest"
)

// refusals records the reasons the hub counts.
type refusals struct {
	mu   sync.Mutex
	seen map[string]int
}

func (r *refusals) count(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]int{}
	}
	r.seen[reason]++
}

func (r *refusals) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[reason]
}

// rateLimitedAck checks a RATE_LIMITED ack with a retryAfterMs and returns its message.
func rateLimitedAck(t *testing.T, ack []any) string {
	t.Helper()
	failed(t, ack, CodeRateLimited)
	e := ack[0].(map[string]any)["error"].(map[string]any)
	if ms, _ := e["retryAfterMs"].(float64); ms <= 0 {
		t.Fatalf("RATE_LIMITED without retryAfterMs: %v", e)
	}
	return e["message"].(string)
}

func sendID(t *testing.T, c *servertest.Client, room, content string) string {
	t.Helper()
	return ok(t, c.Call("send-message", map[string]any{"roomId": room, "content": content}))["message"].(map[string]any)["id"].(string)
}

// Every event that writes or broadcasts has a per-user budget over all the user's sockets;
// past it the event answers RATE_LIMITED, is counted, and does nothing.
func TestWriteBudgetsPerUser(t *testing.T) {
	var r refusals
	f := newFixture(t, Options{EditsPerMinute: 3, ReceiptsPerSecond: 2, PresencePerSecond: 2, JoinsPerMinute: 4,
		OnRefused: r.count})
	alice, alice2, bob := f.connect("alice", false), f.connect("alice", true), f.connect("bob", false)
	ok(t, alice.Call("join-room", "r"))
	ok(t, alice2.Call("join-room", "r")) // joins: 2 of alice's 4
	ok(t, bob.Call("join-room", "r"))
	var ids []string
	for i := range 4 {
		ids = append(ids, sendID(t, alice, "r", "m"+string(rune('0'+i))))
	}

	// edits and deletes share one budget, over both of alice's sockets
	ok(t, alice.Call("edit-message", map[string]any{"messageId": ids[0], "content": "e1"}))
	ok(t, alice2.Call("edit-message", map[string]any{"messageId": ids[0], "content": "e2"}))
	ok(t, alice.Call("delete-message", ids[1]))
	rateLimitedAck(t, alice2.Call("edit-message", map[string]any{"messageId": ids[2], "content": "e3"}))
	rateLimitedAck(t, alice.Call("delete-message", ids[2]))
	if got := f.get(ids[2]); got.Content != "m2" || got.Deleted {
		t.Fatalf("a refused edit or delete changed the message: %+v", got)
	}
	ok(t, bob.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{ids[0]}})) // bob's own budgets

	// receipts
	ok(t, alice.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{ids[0]}}))
	ok(t, alice2.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{ids[0]}}))
	rateLimitedAck(t, alice.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{ids[3]}}))
	if last, _, _ := f.store.ReadState(t.Context(), "r", "alice"); last != ids[0] {
		t.Fatalf("a refused mark-as-read moved the watermark to %s", last)
	}

	// presence
	ok(t, alice.Call("update-presence", "away"))
	ok(t, alice2.Call("update-presence", "busy"))
	rateLimitedAck(t, alice.Call("update-presence", "online"))

	// joins and leaves: 2 spent above
	ok(t, alice.Call("leave-room", "r"))
	ok(t, alice.Call("join-room", "r"))
	rateLimitedAck(t, alice.Call("leave-room", "r"))
	rateLimitedAck(t, alice2.Call("join-room", "s"))

	for reason, want := range map[string]int{"edit_rate": 2, "receipt_rate": 1, "presence_rate": 1, "join_rate": 2} {
		if got := r.get(reason); got != want {
			t.Errorf("refusals %s = %d, want %d", reason, got, want)
		}
	}
	time.Sleep(600 * time.Millisecond) // per-second budgets refill; the connection is still up
	ok(t, alice.Call("update-presence", "online"))
	ok(t, alice.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{ids[3]}}))
}

func (f *fixture) get(id string) *store.Message {
	f.t.Helper()
	m, err := f.store.Get(f.t.Context(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// The storage quota counts the bytes of text and attachments a user stores, sends and
// edits alike; past it nothing is stored.
func TestStorageQuota(t *testing.T) {
	var r refusals
	f := newFixture(t, Options{StorageQuota: 2500, OnRefused: r.count})
	alice, bob := f.connect("alice", false), f.connect("bob", false)
	ok(t, alice.Call("join-room", "r"))
	ok(t, bob.Call("join-room", "r"))
	text := strings.Repeat("x", 1000)
	first := sendID(t, alice, "r", text)
	sendID(t, alice, "r", text)
	msg := rateLimitedAck(t, alice.Call("send-message", map[string]any{"roomId": "r", "content": text}))
	if !strings.Contains(msg, "storage quota") {
		t.Fatalf("refusal message %q does not say storage quota", msg)
	}
	rateLimitedAck(t, alice.Call("edit-message", map[string]any{"messageId": first, "content": text}))
	if got := f.get(first); got.EditedAt != (time.Time{}) {
		t.Fatal("a refused edit was stored")
	}
	ok(t, alice.Call("send-message", map[string]any{"roomId": "r", "content": "small"})) // 5 bytes of the 500 left
	sendID(t, bob, "r", text)                                                            // bob has his own quota
	failed(t, bob.Call("send-message", map[string]any{"roomId": "r", "content": "y",
		"attachments": []any{map[string]any{"name": "big.bin", "type": "application/octet-stream", "data": make([]byte, 3000)}}}), CodePayloadTooLarge)
	msgs, _, _ := f.store.History(t.Context(), "r", store.HistoryQuery{})
	if len(msgs) != 4 {
		t.Fatalf("%d messages stored, want 4 (3 of alice, 1 of bob)", len(msgs))
	}
	if r.get("storage_quota") != 3 {
		t.Fatalf("storage_quota refusals = %d, want 3", r.get("storage_quota"))
	}
}

// get-history stops at the byte budget (one message at least) and says hasMore; paging
// on reaches every message.
func TestHistoryPagesBoundedInBytes(t *testing.T) {
	f := newFixture(t, Options{HistoryMaxBytes: 3500})
	alice := f.connect("alice", true)
	ok(t, alice.Call("join-room", "r"))
	var sent []string
	for range 7 {
		sent = append(sent, sendID(t, alice, "r", strings.Repeat("x", 1000)))
	}
	var got []string
	q := map[string]any{"roomId": "r", "limit": 100.0}
	for pages := 1; ; pages++ {
		ack := ok(t, alice.Call("get-history", q))
		msgs := ack["messages"].([]any)
		if len(msgs) == 0 || len(msgs) > 3 {
			t.Fatalf("page %d: %d messages, want 1 to 3 under 3,500 bytes", pages, len(msgs))
		}
		var page []string
		for _, m := range msgs {
			page = append(page, m.(map[string]any)["id"].(string))
		}
		got = append(page, got...)
		if ack["hasMore"] != true {
			if pages != 3 {
				t.Fatalf("%d pages, want 3 (3 + 3 + 1)", pages)
			}
			break
		}
		q = map[string]any{"roomId": "r", "limit": 100.0, "before": page[0]}
	}
	if !slices.Equal(got, sent) {
		t.Fatalf("paging found %q, want %q", got, sent)
	}
	after := ok(t, alice.Call("get-history", map[string]any{"roomId": "r", "after": sent[0]}))
	if n := len(after["messages"].([]any)); n != 3 || after["hasMore"] != true {
		t.Fatalf("after the first: %d messages, hasMore %v; want 3 and true", n, after["hasMore"])
	}
}

// mark-as-read relays only ids of the room's messages: another room's ids and made-up
// strings (markup included) are dropped; the newest id must still be a message of the room.
func TestReadReceiptsRelayOnlyMessagesOfTheRoom(t *testing.T) {
	f := newFixture(t, Options{ReceiptWindow: 20 * time.Millisecond})
	alice, bob := f.connect("alice", false), f.connect("bob", false)
	for _, c := range []*servertest.Client{alice, bob} {
		ok(t, c.Call("join-room", "r"))
		ok(t, c.Call("join-room", "other"))
	}
	foreign := sendID(t, alice, "other", "elsewhere")
	a, b := sendID(t, alice, "r", "a"), sendID(t, alice, "r", "b")
	ok(t, alice.Call("delete-message", a)) // a tombstone is still a message of the room
	ack := ok(t, bob.Call("mark-as-read", map[string]any{"roomId": "r",
		"messageIds": []any{"0 <img src=x onerror=alert(1)>", foreign, a, b, b, "00000000000000"}}))
	if ack["lastReadId"] != b {
		t.Fatalf("ack %v, want the watermark at %s", ack, b)
	}
	ev := alice.Event("messages-read")[0].(map[string]any)
	if !reflect.DeepEqual(ev["messageIds"], []any{a, b}) {
		t.Fatalf("messages-read relayed %v, want only %s and %s", ev["messageIds"], a, b)
	}
	failed(t, bob.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{a, "zzz <b>"}}), CodeNotFound)
	failed(t, bob.Call("mark-as-read", map[string]any{"roomId": "r", "messageIds": []any{foreign}}), CodeNotFound)
	alice.NoEvent("messages-read")
}

// A display name past MaxNameLength is cut, wherever it shows.
func TestLongNamesAreCut(t *testing.T) {
	f := newFixture(t, Options{MaxNameLength: 64})
	bob := f.connect("bob", false)
	ok(t, bob.Call("join-room", "r"))
	long := strings.Repeat("<b>Ö</b>&", 30_000) // 270 KB
	alice := servertest.Dial(t, f.io.Engine(), false)
	if p := alice.Connect("/", map[string]any{"token": token(t, "alice", long, nil, time.Hour)}); p.Type != codec.SConnect {
		t.Fatalf("refused: %+v", p)
	}
	ok(t, alice.Call("join-room", "r"))
	want := strings.Repeat("Ö&amp;", 32) // 64 characters as read
	joined := bob.Event("room-member-joined")[0].(map[string]any)["user"].(map[string]any)
	if joined["username"] != want {
		t.Fatalf("room-member-joined username %.80q (%d characters), want %q", joined["username"], utf8.RuneCountInString(joined["username"].(string)), want)
	}
	id := sendID(t, alice, "r", "hi")
	if got := f.get(id).Username; got != want {
		t.Fatalf("stored username %.80q", got)
	}
	ok(t, alice.Call("typing-start", "r"))
	if typing := bob.Event("user-typing")[0].(map[string]any); typing["username"] != want {
		t.Fatalf("user-typing username %.80q", typing["username"])
	}
}

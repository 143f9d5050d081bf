package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The shared suite: every engine runs every case. "bolt-reopen" closes and reopens the
// file at each h.reopen(), so the same cases check persistence; the plain engines ignore it.

type harness struct {
	t      testing.TB
	s      Store
	reopen func()
}

type engine struct {
	name string
	open func(t *testing.T) *harness
	skip string // a case too slow for this engine
}

func memoryEngine(t *testing.T) *harness {
	h := &harness{t: t, s: NewMemory()}
	h.reopen = func() {}
	t.Cleanup(func() { h.s.Close() })
	return h
}

func boltEngine(opts BoltOptions, reopen bool) func(t *testing.T) *harness {
	return func(t *testing.T) *harness {
		path := filepath.Join(t.TempDir(), "sub", "dir", "edgeio.db")
		h := &harness{t: t, s: mustOpenBolt(t, path, opts)}
		h.reopen = func() {
			if !reopen {
				return
			}
			if err := h.s.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			h.s = mustOpenBolt(t, path, opts)
		}
		t.Cleanup(func() { h.s.Close() })
		return h
	}
}

func mustOpenBolt(t testing.TB, path string, opts BoltOptions) Store {
	t.Helper()
	s, err := OpenBolt(path, opts)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	return s
}

var engines = []engine{
	{"memory", memoryEngine, ""},
	{"bolt", boltEngine(BoltOptions{}, false), ""}, // real fsync
	{"bolt-reopen", boltEngine(BoltOptions{NoSync: true}, true), ""},
	// db.Batch waits 10ms per batch: 10,000 appends take too long.
	{"bolt-dbbatch", boltEngine(BoltOptions{NoSync: true, dbBatch: true}, true), "UnreadCap"},
}

var cases = []struct {
	name string
	run  func(h *harness)
}{
	{"AppendGet", testAppendGet},
	{"Dedup", testDedup},
	{"EditDelete", testEditDelete},
	{"History", testHistory},
	{"HistoryLimits", testHistoryLimits},
	{"HistoryBytes", testHistoryBytes},
	{"ReadMarks", testReadMarks},
	{"InRoom", testInRoom},
	{"Follow", testFollow},
	{"UnreadCap", testUnreadCap},
	{"Concurrent", testConcurrent},
	{"Context", testContext},
	{"Closed", testClosed},
}

func TestStore(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			for _, c := range cases {
				if c.name == e.skip {
					continue
				}
				t.Run(c.name, func(t *testing.T) { c.run(e.open(t)) })
			}
		})
	}
}

var bg = context.Background()

// add appends a message by user to room and returns the stored copy.
func (h *harness) add(room, user, content string) *Message {
	h.t.Helper()
	m, created, err := h.s.Append(bg, &Message{RoomID: room, UserID: user, Username: "n-" + user, Content: content})
	if err != nil || !created {
		h.t.Fatalf("Append: created=%v err=%v", created, err)
	}
	return m
}

func (h *harness) get(id string) *Message {
	h.t.Helper()
	m, err := h.s.Get(bg, id)
	if err != nil {
		h.t.Fatalf("Get(%s): %v", id, err)
	}
	return m
}

func (h *harness) history(room string, q HistoryQuery) ([]*Message, bool) {
	h.t.Helper()
	msgs, more, err := h.s.History(bg, room, q)
	if err != nil {
		h.t.Fatalf("History(%s, %+v): %v", room, q, err)
	}
	if msgs == nil {
		h.t.Fatalf("History(%s, %+v): nil slice", room, q)
	}
	return msgs, more
}

// wantPage checks that a page holds exactly want (by id, in order) and its hasMore.
func (h *harness) wantPage(room string, q HistoryQuery, want []*Message, wantMore bool) {
	h.t.Helper()
	got, more := h.history(room, q)
	if len(got) != len(want) || more != wantMore {
		h.t.Fatalf("History(%+v): %d msgs more=%v, want %d more=%v", q, len(got), more, len(want), wantMore)
	}
	for i := range got {
		if got[i].ID != want[i].ID {
			h.t.Fatalf("History(%+v)[%d] = %s, want %s", q, i, got[i].ID, want[i].ID)
		}
	}
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func sameMsg(t testing.TB, what string, got, want *Message) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testAppendGet(h *harness) {
	t := h.t
	in := &Message{
		ID: "ignored", RoomID: "lobby", UserID: "u1", Username: "Ann", Content: "hi <b>",
		ClientMsgID: "c-1", CreatedAt: time.Unix(1, 0),
		Attachments: []Attachment{
			{URL: "https://x.test/a.png", Name: "a.png", Type: "image/png", Size: 1234},
			{Name: "b.bin", Type: "application/octet-stream", Data: []byte{0, 1, 2, 255}},
		},
	}
	before := time.Now().Add(-time.Second)
	m, created, err := h.s.Append(bg, in)
	if err != nil || !created {
		t.Fatalf("Append: %v %v", created, err)
	}
	if in.ID != "ignored" || !in.CreatedAt.Equal(time.Unix(1, 0)) {
		t.Fatalf("Append modified its argument: %+v", in)
	}
	if !ValidID(m.ID) || m.CreatedAt.Location() != time.UTC || m.CreatedAt.Before(before) ||
		m.CreatedAt.After(time.Now().Add(time.Second)) || m.CreatedAt.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("bad id or time: %q %v", m.ID, m.CreatedAt)
	}
	want := *in.clone()
	want.ID, want.CreatedAt = m.ID, m.CreatedAt
	sameMsg(t, "Append", m, &want)

	// The store owns its copies: changing ours or theirs changes nothing stored.
	in.Attachments[1].Data[0] = 9
	m.Attachments[1].Data[1] = 9
	m.Content = "changed"
	sameMsg(t, "Get", h.get(m.ID), &want)
	g := h.get(m.ID)
	g.Attachments[0].Name = "changed"
	h.reopen()
	sameMsg(t, "Get after reopen", h.get(m.ID), &want)
	msgs, _ := h.history("lobby", HistoryQuery{})
	if len(msgs) != 1 {
		t.Fatalf("history: %d msgs", len(msgs))
	}
	sameMsg(t, "History", msgs[0], &want)

	// Empty attachments and data come back as nil.
	e, _, err := h.s.Append(bg, &Message{RoomID: "lobby", UserID: "u1", Content: "x",
		Attachments: []Attachment{{URL: "https://x.test", Data: []byte{}}}})
	if err != nil || e.Attachments[0].Data != nil {
		t.Fatalf("empty data: %v %#v", err, e.Attachments)
	}
	e, _, err = h.s.Append(bg, &Message{RoomID: "lobby", UserID: "u1", Content: "x", Attachments: []Attachment{}})
	if err != nil || e.Attachments != nil || h.get(e.ID).Attachments != nil {
		t.Fatalf("empty attachments: %v %#v", err, e.Attachments)
	}

	for _, id := range []string{"", "nope", formatID(1), strings.ToUpper(m.ID), "g" + m.ID[1:]} {
		_, err := h.s.Get(bg, id)
		wantErr(t, "Get("+id+")", err, ErrNotFound)
	}
	long := strings.Repeat("x", MaxKeyLen+1)
	for _, bad := range []*Message{nil, {UserID: "u"}, {RoomID: long}, {RoomID: "r", UserID: long},
		{RoomID: "r", ClientMsgID: long}} {
		_, _, err := h.s.Append(bg, bad)
		wantErr(t, "Append invalid", err, ErrInvalid)
	}
}

func testDedup(h *harness) {
	t := h.t
	send := func(user, cmid, content string) (*Message, bool) {
		t.Helper()
		m, created, err := h.s.Append(bg, &Message{RoomID: "r", UserID: user, Content: content, ClientMsgID: cmid})
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		return m, created
	}
	first, created := send("u1", "c1", "one")
	if !created {
		t.Fatal("first send not created")
	}
	again, created := send("u1", "c1", "one, resent")
	if created {
		t.Fatal("resend created a message")
	}
	sameMsg(t, "resend", again, first)
	h.reopen()
	again, created = send("u1", "c1", "third time")
	if created || again.ID != first.ID || again.Content != "one" {
		t.Fatalf("resend after reopen: created=%v %+v", created, again)
	}
	// In another room too: the key is (user, clientMsgId).
	if m, created, _ := h.s.Append(bg, &Message{RoomID: "other", UserID: "u1", ClientMsgID: "c1"}); created || m.ID != first.ID {
		t.Fatalf("resend to another room: created=%v %+v", created, m)
	}
	other, created := send("u2", "c1", "same cmid, other user")
	if !created || other.ID == first.ID {
		t.Fatal("another user's clientMsgId deduplicated")
	}
	if _, created := send("u1", "c2", "new cmid"); !created {
		t.Fatal("new clientMsgId not created")
	}
	a, _ := send("u1", "", "no cmid")
	b, _ := send("u1", "", "no cmid")
	if a.ID == b.ID {
		t.Fatal("messages without clientMsgId deduplicated")
	}
	msgs, _ := h.history("r", HistoryQuery{})
	if len(msgs) != 5 {
		t.Fatalf("history has %d messages, want 5", len(msgs))
	}
	// A resend of a deleted message gets the tombstone, not a new message.
	if _, err := h.s.Delete(bg, first.ID, "u1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if m, created := send("u1", "c1", "again"); created || !m.Deleted || m.ID != first.ID {
		t.Fatalf("resend of a deleted message: created=%v %+v", created, m)
	}
}

func testEditDelete(h *harness) {
	t := h.t
	m, _, err := h.s.Append(bg, &Message{RoomID: "r", UserID: "u1", Username: "Ann", Content: "v1", ClientMsgID: "c",
		Attachments: []Attachment{{URL: "https://x.test/f"}}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 16, 40, 0, 123456789, time.FixedZone("X", 3600))
	_, err = h.s.Edit(bg, m.ID, "u2", "hijack", at)
	wantErr(t, "Edit by another user", err, ErrForbidden)
	_, err = h.s.Edit(bg, formatID(5), "u1", "x", at)
	wantErr(t, "Edit unknown", err, ErrNotFound)
	_, err = h.s.Edit(bg, "bad id", "u1", "x", at)
	wantErr(t, "Edit malformed", err, ErrNotFound)

	e, err := h.s.Edit(bg, m.ID, "u1", "v2", at)
	if err != nil {
		t.Fatal(err)
	}
	want := *m
	want.Content, want.EditedAt = "v2", time.Date(2026, 11, 26, 15, 40, 0, 123000000, time.UTC)
	sameMsg(t, "Edit", e, &want)
	h.reopen()
	sameMsg(t, "Get after Edit", h.get(m.ID), &want)
	e, err = h.s.Edit(bg, m.ID, "u1", "v3", time.Time{})
	if err != nil || e.Content != "v3" || time.Since(e.EditedAt) > time.Minute {
		t.Fatalf("Edit with zero time: %v %+v", err, e)
	}

	_, err = h.s.Delete(bg, m.ID, "u2", at)
	wantErr(t, "Delete by another user", err, ErrForbidden)
	_, err = h.s.Delete(bg, formatID(5), "u1", at)
	wantErr(t, "Delete unknown", err, ErrNotFound)
	d, err := h.s.Delete(bg, m.ID, "u1", at.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Deleted || d.Content != "" || d.Attachments != nil || d.ID != m.ID || d.RoomID != "r" ||
		!d.DeletedAt.Equal(want.EditedAt.Add(time.Second)) || d.UserID != "u1" {
		t.Fatalf("tombstone: %+v", d)
	}
	h.reopen()
	sameMsg(t, "Get tombstone", h.get(m.ID), d)
	_, err = h.s.Delete(bg, m.ID, "u1", at)
	wantErr(t, "Delete twice", err, ErrNotFound)
	_, err = h.s.Delete(bg, m.ID, "u2", at)
	wantErr(t, "Delete a tombstone by another user", err, ErrNotFound)
	_, err = h.s.Edit(bg, m.ID, "u1", "zombie", at)
	wantErr(t, "Edit a tombstone", err, ErrNotFound)
	msgs, _ := h.history("r", HistoryQuery{})
	sameMsg(t, "tombstone in history", msgs[0], d)
}

func testHistory(h *harness) {
	t := h.t
	var m []*Message
	for i := range 25 {
		m = append(m, h.add("room", fmt.Sprint("u", i%3), fmt.Sprint("m", i)))
		if i%5 == 0 {
			h.add("noise", "u0", "elsewhere")
		}
	}
	if _, err := h.s.Delete(bg, m[20].ID, m[20].UserID, time.Now()); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	all, more := h.history("room", HistoryQuery{})
	if len(all) != 25 || more {
		t.Fatalf("default page: %d more=%v", len(all), more)
	}
	for i, x := range all {
		if x.Content != m[i].Content && !(i == 20 && x.Deleted) {
			t.Fatalf("history[%d] = %+v, want %+v", i, x, m[i])
		}
	}
	if !all[20].Deleted || all[20].Content != "" {
		t.Fatalf("tombstone in history: %+v", all[20])
	}

	type tc struct {
		q    HistoryQuery
		want []*Message
		more bool
	}
	for _, c := range []tc{
		{HistoryQuery{Limit: 10}, m[15:], true},
		{HistoryQuery{Limit: 25}, m, false},
		{HistoryQuery{Limit: 1}, m[24:], true},
		{HistoryQuery{Before: m[15].ID, Limit: 10}, m[5:15], true},
		{HistoryQuery{Before: m[10].ID, Limit: 10}, m[0:10], false},
		{HistoryQuery{Before: m[5].ID, Limit: 10}, m[0:5], false},
		{HistoryQuery{Before: m[0].ID, Limit: 10}, nil, false},
		{HistoryQuery{After: m[9].ID, Limit: 10}, m[10:20], true},
		{HistoryQuery{After: m[14].ID, Limit: 10}, m[15:], false},
		{HistoryQuery{After: m[19].ID}, m[20:], false},
		{HistoryQuery{After: m[24].ID, Limit: 10}, nil, false},
		{HistoryQuery{After: m[4].ID, Before: m[10].ID, Limit: 3}, m[5:8], true},
		{HistoryQuery{After: m[4].ID, Before: m[10].ID, Limit: 5}, m[5:10], false},
		{HistoryQuery{After: m[4].ID, Before: m[10].ID}, m[5:10], false},
		{HistoryQuery{After: m[10].ID, Before: m[5].ID}, nil, false},
		{HistoryQuery{After: m[10].ID, Before: m[10].ID}, nil, false},
	} {
		h.wantPage("room", c.q, c.want, c.more)
	}

	// Paging backwards and forwards walks the whole room.
	var back []*Message
	for q := (HistoryQuery{Limit: 7}); ; {
		page, more := h.history("room", q)
		back = append(page, back...)
		if !more {
			break
		}
		q.Before = page[0].ID
	}
	var fwd []*Message
	for q := (HistoryQuery{After: m[0].ID, Limit: 6}); ; {
		page, more := h.history("room", q)
		fwd = append(fwd, page...)
		if !more {
			break
		}
		q.After = page[len(page)-1].ID
	}
	if len(back) != 25 || len(fwd) != 24 || back[0].ID != m[0].ID || fwd[23].ID != m[24].ID {
		t.Fatalf("paging: %d back, %d forward", len(back), len(fwd))
	}

	noise, _ := h.history("noise", HistoryQuery{})
	for _, q := range []HistoryQuery{
		{Before: formatID(ids.next())}, {After: "nope"}, {Before: noise[0].ID}, {After: noise[0].ID},
		{After: m[1].ID, Before: "zzzzzzzzzzzzz"},
	} {
		_, _, err := h.s.History(bg, "room", q)
		wantErr(t, fmt.Sprintf("History(%+v)", q), err, ErrNotFound)
	}
	_, _, err := h.s.History(bg, "nobody-here", HistoryQuery{Before: m[1].ID})
	wantErr(t, "History of an unknown room with a cursor", err, ErrNotFound)
	h.wantPage("nobody-here", HistoryQuery{}, nil, false)
}

func testHistoryLimits(h *harness) {
	m := appendMany(h, "big", 105, 16)
	h.reopen()
	h.wantPage("big", HistoryQuery{Limit: 0}, m[55:], true)
	h.wantPage("big", HistoryQuery{Limit: -3}, m[55:], true)
	h.wantPage("big", HistoryQuery{Limit: 100}, m[5:], true)
	h.wantPage("big", HistoryQuery{Limit: 1000}, m[5:], true)
	h.wantPage("big", HistoryQuery{After: m[2].ID, Limit: 1000}, m[3:103], true)
	h.wantPage("big", HistoryQuery{After: m[4].ID, Limit: 1000}, m[5:], false)
	h.wantPage("big", HistoryQuery{Before: m[104].ID, Limit: 1000}, m[4:104], true)
}

// testHistoryBytes: a page stops before the message that would take it past MaxBytes,
// says hasMore, and always holds one message.
func testHistoryBytes(h *harness) {
	text := strings.Repeat("x", 1000)
	var m []*Message
	for range 6 {
		m = append(m, h.add("b", "u1", text)) // about 1,050 bytes each
	}
	big, _, err := h.s.Append(bg, &Message{RoomID: "b", UserID: "u1", Username: "n-u1", Content: "file",
		Attachments: []Attachment{{Name: "a.bin", Type: "application/octet-stream", Data: make([]byte, 5000)}}})
	if err != nil {
		h.t.Fatal(err)
	}
	m = append(m, big)
	h.reopen()
	// three text messages, not four
	const budget = 3500
	h.wantPage("b", HistoryQuery{MaxBytes: budget}, m[6:], true) // larger than the budget: alone
	h.wantPage("b", HistoryQuery{Before: m[6].ID, MaxBytes: budget}, m[3:6], true)
	h.wantPage("b", HistoryQuery{Before: m[3].ID, MaxBytes: budget}, m[:3], false)
	h.wantPage("b", HistoryQuery{After: m[0].ID, MaxBytes: budget}, m[1:4], true)
	h.wantPage("b", HistoryQuery{After: m[3].ID, MaxBytes: budget}, m[4:6], true)
	h.wantPage("b", HistoryQuery{After: m[5].ID, MaxBytes: budget}, m[6:], false)
	h.wantPage("b", HistoryQuery{After: m[0].ID, Before: m[5].ID, MaxBytes: budget}, m[1:4], true)
	h.wantPage("b", HistoryQuery{Before: m[6].ID, Limit: 2, MaxBytes: budget}, m[4:6], true)
	h.wantPage("b", HistoryQuery{MaxBytes: 1 << 20}, m, false)
	h.wantPage("b", HistoryQuery{}, m, false)
}

// testInRoom: one call sorts any strings into the room's messages (tombstones included)
// and the rest.
func testInRoom(h *harness) {
	a, b, c := h.add("r1", "u1", "a"), h.add("r1", "u2", "b"), h.add("r2", "u1", "c")
	if _, err := h.s.Delete(bg, b.ID, "u2", time.Time{}); err != nil {
		h.t.Fatal(err)
	}
	h.reopen()
	in := func(room string, ids ...string) []string {
		h.t.Helper()
		found, err := h.s.InRoom(bg, room, ids)
		if err != nil {
			h.t.Fatalf("InRoom(%s, %q): %v", room, ids, err)
		}
		return found
	}
	bogus := []string{"", "0 <img src=x onerror=alert(1)>", "fvvvvvvvvvvvv", strings.ToUpper(a.ID), a.ID + "x"}
	if got := in("r1", append([]string{c.ID, b.ID, a.ID}, bogus...)...); !slices.Equal(got, []string{b.ID, a.ID}) {
		h.t.Fatalf("InRoom(r1) = %q, want %q", got, []string{b.ID, a.ID})
	}
	if got := in("r2", a.ID, b.ID, c.ID); !slices.Equal(got, []string{c.ID}) {
		h.t.Fatalf("InRoom(r2) = %q, want only %s", got, c.ID)
	}
	for _, room := range []string{"nowhere", "r1"} {
		if got := in(room, bogus...); len(got) != 0 {
			h.t.Fatalf("InRoom(%s, bogus) = %q", room, got)
		}
	}
	if got := in("r1"); len(got) != 0 {
		h.t.Fatalf("InRoom(r1, nothing) = %q", got)
	}
}

// appendMany appends n messages to room from `senders` goroutines (users s0, s1, ...) and
// returns them sorted by id.
func appendMany(h *harness, room string, n, senders int) []*Message {
	out := make([]*Message, n)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Go(func() {
			for i := g; i < n; i += senders {
				m, _, err := h.s.Append(bg, &Message{RoomID: room, UserID: fmt.Sprint("s", g), Content: fmt.Sprint(i)})
				if err != nil {
					errs <- err
					return
				}
				out[i] = m
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		h.t.Fatalf("Append: %v", err)
	}
	sortByID(out)
	return out
}

func sortByID(ms []*Message) {
	slices.SortFunc(ms, func(a, b *Message) int { return strings.Compare(a.ID, b.ID) })
}

func testReadMarks(h *harness) {
	t := h.t
	state := func(user string) (string, int) {
		t.Helper()
		last, n, err := h.s.ReadState(bg, "r", user)
		if err != nil {
			t.Fatal(err)
		}
		return last, n
	}
	mark := func(user, id string) error { return h.s.MarkRead(bg, "r", user, id) }
	var m []*Message
	for i := range 10 {
		m = append(m, h.add("r", []string{"u1", "u2"}[i%2], fmt.Sprint(i))) // u1 writes even ones
	}
	other := h.add("other", "u2", "x")
	if last, n := state("u1"); last != "" || n != 5 {
		t.Fatalf("no mark: %q %d", last, n)
	}
	if last, n := state("u3"); last != "" || n != 10 {
		t.Fatalf("no mark, u3: %q %d", last, n)
	}
	if err := mark("u1", m[3].ID); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	if last, n := state("u1"); last != m[3].ID || n != 3 { // 5, 7, 9
		t.Fatalf("after mark 3: %q %d", last, n)
	}
	if err := mark("u1", m[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := mark("u1", m[3].ID); err != nil {
		t.Fatal(err)
	}
	if last, _ := state("u1"); last != m[3].ID {
		t.Fatalf("mark moved backward to %q", last)
	}
	wantErr(t, "mark unknown", mark("u1", formatID(7)), ErrNotFound)
	wantErr(t, "mark malformed", mark("u1", "x"), ErrNotFound)
	wantErr(t, "mark other room's message", mark("u1", other.ID), ErrNotFound)
	wantErr(t, "mark in an unknown room", h.s.MarkRead(bg, "none", "u1", m[1].ID), ErrNotFound)

	if _, err := h.s.Delete(bg, m[7].ID, "u2", time.Now()); err != nil {
		t.Fatal(err)
	}
	if last, n := state("u1"); last != m[3].ID || n != 2 {
		t.Fatalf("after delete: %q %d", last, n)
	}
	if err := mark("u1", m[7].ID); err != nil { // a tombstone is still a message
		t.Fatal(err)
	}
	if last, n := state("u1"); last != m[7].ID || n != 1 {
		t.Fatalf("after marking a tombstone: %q %d", last, n)
	}
	if err := mark("u2", m[9].ID); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	if last, n := state("u2"); last != m[9].ID || n != 0 {
		t.Fatalf("u2 at the end: %q %d", last, n)
	}
	if last, n := state("u1"); last != m[7].ID || n != 1 {
		t.Fatalf("u1 after reopen: %q %d", last, n)
	}
	if last, n, err := h.s.ReadState(bg, "none", "u1"); err != nil || last != "" || n != 0 {
		t.Fatalf("unknown room: %q %d %v", last, n, err)
	}
}

func testUnreadCap(h *harness) {
	m := appendMany(h, "r", MaxUnread+3, 64)
	h.reopen()
	if _, n, err := h.s.ReadState(bg, "r", "reader"); err != nil || n != MaxUnread {
		h.t.Fatalf("unread = %d, %v; want %d", n, err, MaxUnread)
	}
	if err := h.s.MarkRead(bg, "r", "reader", m[2].ID); err != nil {
		h.t.Fatal(err)
	}
	if _, n, _ := h.s.ReadState(bg, "r", "reader"); n != MaxUnread {
		h.t.Fatalf("unread after mark 2 = %d", n)
	}
	if err := h.s.MarkRead(bg, "r", "reader", m[3].ID); err != nil {
		h.t.Fatal(err)
	}
	if _, n, _ := h.s.ReadState(bg, "r", "reader"); n != MaxUnread-1 {
		h.t.Fatalf("unread after mark 3 = %d", n)
	}
}

func testConcurrent(h *harness) {
	t := h.t
	const senders, each = 64, 20
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			prev := ""
			for i := range each {
				room := []string{"a", "b"}[i%2]
				m, created, err := h.s.Append(bg, &Message{RoomID: room, UserID: fmt.Sprint("u", g),
					Content: fmt.Sprint(g, "/", i), ClientMsgID: fmt.Sprint(i)})
				if err != nil || !created {
					t.Errorf("Append: %v %v", created, err)
					return
				}
				if m.ID <= prev {
					t.Errorf("ids not increasing: %s after %s", m.ID, prev)
				}
				prev = m.ID
				mu.Lock()
				if seen[m.ID] {
					t.Errorf("duplicate id %s", m.ID)
				}
				seen[m.ID] = true
				mu.Unlock()
			}
		})
	}
	// A reader runs alongside.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			msgs, _, err := h.s.History(bg, "a", HistoryQuery{Limit: 100})
			if err != nil {
				t.Errorf("History: %v", err)
				return
			}
			for i := 1; i < len(msgs); i++ {
				if msgs[i].ID <= msgs[i-1].ID {
					t.Errorf("history out of order")
				}
			}
		}
	})
	wg.Wait()
	close(stop)
	rwg.Wait()
	if t.Failed() {
		return
	}
	h.reopen()
	// Walk each room from its oldest message forward and count everything.
	total := 0
	for _, room := range []string{"a", "b"} {
		all := walkForward(h, room)
		for i, m := range all {
			if !seen[m.ID] || i > 0 && m.ID <= all[i-1].ID {
				t.Fatalf("history: unexpected or unordered %s", m.ID)
			}
		}
		total += len(all)
	}
	if total != senders*each {
		t.Fatalf("history holds %d messages, want %d", total, senders*each)
	}
}

// walkForward returns a room's whole history by paging with After from its first message.
func walkForward(h *harness, room string) []*Message {
	var oldest *Message
	for q := (HistoryQuery{Limit: 100}); ; {
		page, more := h.history(room, q)
		if len(page) == 0 {
			return nil
		}
		oldest = page[0]
		if !more {
			break
		}
		q.Before = oldest.ID
	}
	all := []*Message{oldest}
	for q := (HistoryQuery{After: oldest.ID, Limit: 100}); ; {
		page, more := h.history(room, q)
		all = append(all, page...)
		if !more {
			return all
		}
		q.After = page[len(page)-1].ID
	}
}

func testContext(h *harness) {
	t := h.t
	m := h.add("r", "u1", "x")
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, _, err := h.s.Append(ctx, &Message{RoomID: "r", UserID: "u1", Content: "y"})
	wantErr(t, "Append", err, context.Canceled)
	_, err = h.s.Edit(ctx, m.ID, "u1", "y", time.Now())
	wantErr(t, "Edit", err, context.Canceled)
	_, err = h.s.Delete(ctx, m.ID, "u1", time.Now())
	wantErr(t, "Delete", err, context.Canceled)
	wantErr(t, "MarkRead", h.s.MarkRead(ctx, "r", "u2", m.ID), context.Canceled)
	_, err = h.s.Get(ctx, m.ID)
	wantErr(t, "Get", err, context.Canceled)
	_, _, err = h.s.History(ctx, "r", HistoryQuery{})
	wantErr(t, "History", err, context.Canceled)
	_, _, err = h.s.ReadState(ctx, "r", "u2")
	wantErr(t, "ReadState", err, context.Canceled)
	h.reopen()
	sameMsg(t, "untouched", h.get(m.ID), m)
	h.wantPage("r", HistoryQuery{}, []*Message{m}, false)
	if last, _, _ := h.s.ReadState(bg, "r", "u2"); last != "" {
		t.Fatalf("mark written under a cancelled context")
	}
}

func testClosed(h *harness) {
	t := h.t
	m := h.add("r", "u1", "x")
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err := h.s.Append(bg, &Message{RoomID: "r", UserID: "u1", Content: "y"})
	wantErr(t, "Append", err, ErrClosed)
	_, err = h.s.Edit(bg, m.ID, "u1", "y", time.Now())
	wantErr(t, "Edit", err, ErrClosed)
	_, err = h.s.Get(bg, m.ID)
	wantErr(t, "Get", err, ErrClosed)
	_, _, err = h.s.History(bg, "r", HistoryQuery{})
	wantErr(t, "History", err, ErrClosed)
	wantErr(t, "MarkRead", h.s.MarkRead(bg, "r", "u2", m.ID), ErrClosed)
	_, _, err = h.s.ReadState(bg, "r", "u2")
	wantErr(t, "ReadState", err, ErrClosed)
}

// Follow and Unfollow keep each user's rooms, sorted, across a reopen; a user whose name
// is another's prefix has rooms of its own.
func testFollow(h *harness) {
	for _, f := range [][2]string{{"r2", "u"}, {"r1", "u"}, {"r1", "u"}, {"r:3", "u2"}, {"r9", "uu"}} {
		if err := h.s.Follow(bg, f[0], f[1]); err != nil {
			h.t.Fatalf("Follow(%s, %s): %v", f[0], f[1], err)
		}
	}
	rooms := func(user string) []string {
		h.t.Helper()
		r, err := h.s.Rooms(bg, user)
		if err != nil {
			h.t.Fatalf("Rooms(%s): %v", user, err)
		}
		return r
	}
	if r := rooms("u"); !slices.Equal(r, []string{"r1", "r2"}) {
		h.t.Fatalf("Rooms(u) = %v, want [r1 r2]", r)
	}
	h.reopen()
	if err := h.s.Unfollow(bg, "r2", "u"); err != nil {
		h.t.Fatal(err)
	}
	if err := h.s.Unfollow(bg, "never", "u"); err != nil {
		h.t.Fatalf("Unfollow of a room not followed: %v", err)
	}
	if r := rooms("u"); !slices.Equal(r, []string{"r1"}) {
		h.t.Fatalf("after Unfollow: Rooms(u) = %v", r)
	}
	if r := rooms("u2"); !slices.Equal(r, []string{"r:3"}) {
		h.t.Fatalf("Rooms(u2) = %v", r)
	}
	if r := rooms("nobody"); len(r) != 0 {
		h.t.Fatalf("Rooms(nobody) = %v", r)
	}
}

package store

import (
	"bytes"
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound: no such message (or a deleted one, for Edit and Delete), or a history
	// cursor / read mark that is not a message of the room.
	ErrNotFound = errors.New("store: not found")
	// ErrForbidden: the user is not the author of the message.
	ErrForbidden = errors.New("store: not the author")
	// ErrInvalid: Append got a message without a room, or with a room, user or client
	// message id longer than MaxKeyLen bytes. The hub validates first, so this is a bug guard.
	ErrInvalid = errors.New("store: invalid message")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store: closed")
	// ErrUnavailable: the store cannot be reached now (the Redis engine: no connection, a
	// timeout, a cluster without a master for the slot, a server that refuses writes).
	// Nothing is half-written, but a write whose answer was lost may have taken effect:
	// retry it (an Append with the same ClientMsgID returns the stored message). Returned
	// errors wrap it; test with errors.Is.
	ErrUnavailable = errors.New("store: unavailable")
)

const (
	// MaxKeyLen bounds the room id, user id and client message id of a message, in bytes.
	MaxKeyLen = 1024
	// DefaultHistoryLimit is the page size of a HistoryQuery whose Limit is <= 0.
	DefaultHistoryLimit = 50
	// MaxHistoryLimit is the largest page; larger limits are cut to it.
	MaxHistoryLimit = 100
	// MaxUnread caps the unread count that ReadState reports.
	MaxUnread = 10000
	// MaxFollowed caps the rooms Rooms lists for one user.
	MaxFollowed = 1000
)

// Attachment is a link {URL, Name, Type, Size} or inline bytes {Name, Type, Data}.
type Attachment struct {
	URL  string `json:"url,omitempty" msgpack:"url,omitempty"`
	Name string `json:"name,omitempty" msgpack:"name,omitempty"`
	Type string `json:"type,omitempty" msgpack:"type,omitempty"`
	Size int64  `json:"size,omitempty" msgpack:"size,omitempty"`
	Data []byte `json:"data,omitempty" msgpack:"data,omitempty"`
}

// Message is a stored chat message. A tombstone has Deleted set, DeletedAt, and no Content
// or Attachments; its other fields stay as they were.
type Message struct {
	ID          string
	RoomID      string
	UserID      string
	Username    string
	Content     string
	Attachments []Attachment
	ClientMsgID string
	CreatedAt   time.Time // UTC, millisecond precision
	EditedAt    time.Time // zero if never edited
	Deleted     bool
	DeletedAt   time.Time // zero unless deleted
}

// HistoryQuery selects one page of a room's history. With both cursors set the page is
// the oldest Limit messages strictly between After and Before, and hasMore says whether
// more of that range follows the page.
//
// MaxBytes bounds the page in bytes (0: no bound): reading in the query's direction, the
// page stops before the message that would take it past MaxBytes, and hasMore is then
// true. A page always holds at least one message, however large. A message's size is
// about the bytes it is stored in: its text, its names and its attachments (each engine
// counts its own encoding, within a few dozen bytes of the others).
type HistoryQuery struct {
	Before   string // message id: the newest `Limit` messages strictly before it
	After    string // message id: the oldest `Limit` messages strictly after it
	Limit    int    // 1..100; callers validate; treat <=0 as 50 and >100 as 100
	MaxBytes int    // bytes of the page's messages (0: no bound)
}

// Store is the message store. See the package documentation for its concurrency.
type Store interface {
	// Append stores a new message: it assigns ID and CreatedAt (ignoring what m has) and
	// returns once the message is durable (fsynced for bolt). m itself is not modified; the
	// stored copy is returned. When m.ClientMsgID is set and the same user already stored a
	// message with that ClientMsgID (in any room), it stores nothing and returns the earlier
	// message (a tombstone if it was deleted since) with created=false.
	Append(ctx context.Context, m *Message) (stored *Message, created bool, err error)
	// Get returns a message (a deleted one comes back with Deleted set) or ErrNotFound.
	Get(ctx context.Context, id string) (*Message, error)
	// Edit replaces the content of userID's own message: ErrNotFound for no such message or a
	// deleted one, ErrForbidden when userID is not the author. Sets EditedAt = at (UTC,
	// truncated to milliseconds; the current time if at is zero).
	Edit(ctx context.Context, id, userID, content string, at time.Time) (*Message, error)
	// Delete turns userID's own message into a tombstone (content and attachments dropped,
	// Deleted true, DeletedAt = at), same errors as Edit (deleting twice: ErrNotFound).
	Delete(ctx context.Context, id, userID string, at time.Time) (*Message, error)
	// History returns messages of a room oldest first, tombstones included, and whether more
	// exist beyond the page in the direction of the query (older for Before or no cursor,
	// newer for After). A cursor id that is not in the room: ErrNotFound. An unknown room
	// without cursors is an empty page; on success msgs is never nil.
	History(ctx context.Context, roomID string, q HistoryQuery) (msgs []*Message, hasMore bool, err error)
	// InRoom returns those of ids that are messages of roomID (tombstones count), in the
	// order given: one call for the whole list, whatever its length.
	InRoom(ctx context.Context, roomID string, ids []string) ([]string, error)
	// MarkRead moves userID's read watermark in roomID forward to messageID (never backward);
	// ErrNotFound if messageID is not a message of roomID (tombstones count as messages).
	MarkRead(ctx context.Context, roomID, userID, messageID string) error
	// ReadState returns the watermark ("" if none) and how many messages of the room after it
	// are unread by userID: not deleted and not written by userID, counted up to MaxUnread
	// (larger counts report MaxUnread).
	ReadState(ctx context.Context, roomID, userID string) (lastReadID string, unread int, err error)
	// Follow records that userID is in roomID (join-room), Unfollow that it left; Rooms
	// lists the rooms userID follows, sorted, at most MaxFollowed: what a user reconnecting
	// has unread messages in.
	Follow(ctx context.Context, roomID, userID string) error
	Unfollow(ctx context.Context, roomID, userID string) error
	Rooms(ctx context.Context, userID string) ([]string, error)
	// Close releases the store. Writes already accepted are committed first.
	Close() error
}

// Staged is implemented by a store whose Append can give its outcome before the message is
// durable: the bolt engine, once the message is in the transaction being committed and only
// the commit's fsync is left. AppendStaged returns then; durable waits for the commit and
// returns its error (the message is lost if it fails). A read made after AppendStaged
// returned sees the message: it waits for the commit when it has to.
type Staged interface {
	AppendStaged(ctx context.Context, m *Message) (stored *Message, created bool, durable func() error, err error)
}

// AppendStaged is s's AppendStaged, or Append with nothing left to wait for when s has none.
func AppendStaged(ctx context.Context, s Store, m *Message) (stored *Message, created bool, durable func() error, err error) {
	if st, ok := s.(Staged); ok {
		return st.AppendStaged(ctx, m)
	}
	stored, created, err = s.Append(ctx, m)
	return stored, created, noWait, err
}

func noWait() error { return nil }

// checkAppend validates what Append needs from m.
func checkAppend(m *Message) error {
	if m == nil || m.RoomID == "" || len(m.RoomID) > MaxKeyLen ||
		len(m.UserID) > MaxKeyLen || len(m.ClientMsgID) > MaxKeyLen {
		return ErrInvalid
	}
	return nil
}

// pageLimit applies the HistoryQuery.Limit rules.
func pageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultHistoryLimit
	case n > MaxHistoryLimit:
		return MaxHistoryLimit
	}
	return n
}

// pageBytes counts a history page's bytes against HistoryQuery.MaxBytes.
type pageBytes struct{ max, used int }

// fits reports whether a message of size bytes still goes in the page, and counts it if so.
// The first message always does.
func (p *pageBytes) fits(size int) bool {
	if p.max > 0 && p.used > 0 && p.used+size > p.max {
		return false
	}
	p.used += max(size, 1)
	return true
}

// stamp normalises an edit or delete time: UTC, millisecond precision, now if zero.
func stamp(at time.Time) time.Time {
	if at.IsZero() {
		at = time.Now()
	}
	return time.UnixMilli(at.UnixMilli()).UTC()
}

// clone returns a deep copy of m, with empty Attachments and Data as nil.
func (m *Message) clone() *Message {
	c := *m
	c.Attachments = nil
	if len(m.Attachments) > 0 {
		c.Attachments = make([]Attachment, len(m.Attachments))
		for i, a := range m.Attachments {
			if len(a.Data) > 0 {
				a.Data = bytes.Clone(a.Data)
			} else {
				a.Data = nil
			}
			c.Attachments[i] = a
		}
	}
	return &c
}

// edit applies an edit by userID to m (a copy the caller owns).
func (m *Message) edit(userID, content string, at time.Time) error {
	if m.Deleted {
		return ErrNotFound
	}
	if m.UserID != userID {
		return ErrForbidden
	}
	m.Content = content
	m.EditedAt = stamp(at)
	return nil
}

// tombstone turns m (a copy the caller owns) into userID's deleted message.
func (m *Message) tombstone(userID string, at time.Time) error {
	if m.Deleted {
		return ErrNotFound
	}
	if m.UserID != userID {
		return ErrForbidden
	}
	m.Content = ""
	m.Attachments = nil
	m.Deleted = true
	m.DeletedAt = stamp(at)
	return nil
}

package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"
)

// Keys and values of the bolt engine.
//
// A message id is stored as its 8-byte big-endian value (same order as the id string).
// A message value is, in order:
//
//	byte    format (valueFormat)
//	byte    flags (flagDeleted, flagEdited)
//	str     user id            (first, so unread counting reads no further)
//	varint  edited at, unix ms (only with flagEdited)
//	varint  deleted at, unix ms (only with flagDeleted)
//	str     username, content, client message id
//	uvarint attachment count, then per attachment: str url, name, type; varint size; str data
//
// where str is a uvarint length and the bytes. ID and RoomID are the key and the bucket;
// CreatedAt is the time inside the id.
const (
	valueFormat = 1
	flagDeleted = 1 << 0
	flagEdited  = 1 << 1
)

var errCorrupt = errors.New("store: corrupt record")

func idKey(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)
}

// keyOfID turns an id string into its key; ok is false for a malformed id.
func keyOfID(id string) ([]byte, bool) {
	v, ok := parseID(id)
	if !ok {
		return nil, false
	}
	return idKey(v), true
}

func idOfKey(k []byte) string {
	return formatID(binary.BigEndian.Uint64(k))
}

// pairKey joins two strings unambiguously: uvarint len(a), a, b.
func pairKey(a, b string) []byte {
	k := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen16+len(a)+len(b)), uint64(len(a)))
	return append(append(k, a...), b...)
}

func appendStr[T string | []byte](b []byte, s T) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// msgSize is a little more than the size of m's encoding.
func msgSize(m *Message) int {
	size := 2 + len(m.UserID) + len(m.Username) + len(m.Content) + len(m.ClientMsgID) + 40
	for _, a := range m.Attachments {
		size += len(a.URL) + len(a.Name) + len(a.Type) + len(a.Data) + 30
	}
	return size
}

func encodeMessage(m *Message) []byte {
	size := msgSize(m)
	var flags byte
	if m.Deleted {
		flags |= flagDeleted
	}
	if !m.EditedAt.IsZero() {
		flags |= flagEdited
	}
	b := append(make([]byte, 0, size), valueFormat, flags)
	b = appendStr(b, m.UserID)
	if flags&flagEdited != 0 {
		b = binary.AppendVarint(b, m.EditedAt.UnixMilli())
	}
	if flags&flagDeleted != 0 {
		b = binary.AppendVarint(b, m.DeletedAt.UnixMilli())
	}
	b = appendStr(b, m.Username)
	b = appendStr(b, m.Content)
	b = appendStr(b, m.ClientMsgID)
	return appendAttachments(b, m.Attachments)
}

// appendAttachments appends a uvarint count, then per attachment str url, name, type,
// varint size and str data (the Redis engine's attachments field is the same).
func appendAttachments(b []byte, as []Attachment) []byte {
	b = binary.AppendUvarint(b, uint64(len(as)))
	for _, a := range as {
		b = appendStr(b, a.URL)
		b = appendStr(b, a.Name)
		b = appendStr(b, a.Type)
		b = binary.AppendVarint(b, a.Size)
		b = appendStr(b, a.Data)
	}
	return b
}

// decoder reads a value; after the first error every read returns zero and bad is set.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) time() time.Time { return time.UnixMilli(d.varint()).UTC() }

// attachments reads what appendAttachments wrote: nil for none.
func (d *decoder) attachments() []Attachment {
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every attachment takes at least one byte
		d.bad, d.b = true, nil
	}
	if n == 0 || d.bad {
		return nil
	}
	as := make([]Attachment, n)
	for i := range as {
		a := &as[i]
		a.URL, a.Name, a.Type, a.Size = d.str(), d.str(), d.str(), d.varint()
		if data := d.raw(); len(data) > 0 {
			a.Data = bytes.Clone(data)
		}
	}
	return as
}

// decodeMessage rebuilds the message stored under key in roomID. It copies everything out
// of v, which bolt owns.
func decodeMessage(roomID string, key, v []byte) (*Message, error) {
	if len(key) != 8 || len(v) < 2 || v[0] != valueFormat {
		return nil, errCorrupt
	}
	id := binary.BigEndian.Uint64(key)
	m := &Message{ID: formatID(id), RoomID: roomID, CreatedAt: idTime(id), Deleted: v[1]&flagDeleted != 0}
	d := decoder{b: v[2:]}
	m.UserID = d.str()
	if v[1]&flagEdited != 0 {
		m.EditedAt = d.time()
	}
	if m.Deleted {
		m.DeletedAt = d.time()
	}
	m.Username = d.str()
	m.Content = d.str()
	m.ClientMsgID = d.str()
	m.Attachments = d.attachments()
	if d.bad || len(d.b) != 0 {
		return nil, errCorrupt
	}
	return m, nil
}

// unreadBy reports, reading only the head of a value, whether the message counts as
// unread for userID: not deleted and written by someone else.
func unreadBy(v []byte, userID string) bool {
	if len(v) < 2 || v[1]&flagDeleted != 0 {
		return false
	}
	d := decoder{b: v[2:]}
	return string(d.raw()) != userID
}

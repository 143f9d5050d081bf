package store

import (
	"strconv"
	"time"
)

// A message in Redis is a hash (see redis_keys.go): one field per Message field, so that
// the scripts read and change the author, the content and the tombstone without decoding
// anything. Empty fields are left out, except r and u which every message has.
// Attachments are one binary field: uvarint count, then per attachment str url, name, type,
// varint size, str data (str: uvarint length and bytes, as in the bolt encoding).

// messageFields lists the hash fields and values of m for HSET.
func messageFields(m *Message) []any {
	f := []any{"r", m.RoomID, "u", m.UserID}
	for _, kv := range [...]struct{ k, v string }{{"n", m.Username}, {"c", m.Content}, {"k", m.ClientMsgID}} {
		if kv.v != "" {
			f = append(f, kv.k, kv.v)
		}
	}
	if len(m.Attachments) > 0 {
		f = append(f, "a", encodeAttachments(m.Attachments))
	}
	if !m.EditedAt.IsZero() {
		f = append(f, "e", m.EditedAt.UnixMilli())
	}
	if m.Deleted {
		f = append(f, "x", m.DeletedAt.UnixMilli())
	}
	return f
}

func encodeAttachments(as []Attachment) []byte { return appendAttachments(nil, as) }

func decodeAttachments(v string) ([]Attachment, error) {
	d := decoder{b: []byte(v)}
	as := d.attachments()
	if len(as) == 0 || d.bad || len(d.b) != 0 { // a message without attachments has no field
		return nil, errCorrupt
	}
	return as, nil
}

// decodeFields rebuilds message x from its hash; a hash without a room is no message.
func decodeFields(x sid, f map[string]string) (*Message, error) {
	room, ok := f["r"]
	if !ok {
		return nil, ErrNotFound
	}
	m := &Message{
		ID:          x.id(),
		RoomID:      room,
		UserID:      f["u"],
		Username:    f["n"],
		Content:     f["c"],
		ClientMsgID: f["k"],
		CreatedAt:   time.UnixMilli(int64(x.ms)).UTC(),
	}
	var err error
	if a, ok := f["a"]; ok {
		if m.Attachments, err = decodeAttachments(a); err != nil {
			return nil, err
		}
	}
	if m.EditedAt, ok, err = msField(f, "e"); err != nil {
		return nil, err
	}
	if m.DeletedAt, m.Deleted, err = msField(f, "x"); err != nil {
		return nil, err
	}
	return m, nil
}

// msField reads a time field in unix milliseconds.
func msField(f map[string]string, k string) (time.Time, bool, error) {
	v, ok := f[k]
	if !ok {
		return time.Time{}, false, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false, errCorrupt
	}
	return time.UnixMilli(ms).UTC(), true, nil
}

// fieldMap turns a flat HGETALL reply from a script into a map.
func fieldMap(v any) (map[string]string, error) {
	list, ok := v.([]any)
	if !ok || len(list)%2 != 0 {
		return nil, errCorrupt
	}
	f := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, ok1 := list[i].(string)
		v, ok2 := list[i+1].(string)
		if !ok1 || !ok2 {
			return nil, errCorrupt
		}
		f[k] = v
	}
	return f, nil
}

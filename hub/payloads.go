package hub

import (
	"time"

	"edgeio/hub/store"
)

// Payloads are built as map trees, not structs, so that inline attachment bytes stay
// []byte where the parsers can find them and send them as binary attachments.

// isoTime writes t as JSON.stringify(new Date()) does: UTC with milliseconds.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// messagePayload is docs/events.md's MessagePayload, or a tombstone for a deleted message.
func messagePayload(m *store.Message) map[string]any {
	if m.Deleted {
		return map[string]any{"id": m.ID, "roomId": m.RoomID, "deleted": true, "deletedAt": isoTime(m.DeletedAt)}
	}
	p := map[string]any{
		"id":        m.ID,
		"roomId":    m.RoomID,
		"userId":    m.UserID,
		"username":  m.Username,
		"content":   m.Content,
		"createdAt": isoTime(m.CreatedAt),
	}
	if len(m.Attachments) > 0 {
		list := make([]any, len(m.Attachments))
		for i, a := range m.Attachments {
			list[i] = attachmentPayload(a)
		}
		p["attachments"] = list
	}
	if m.ClientMsgID != "" {
		p["clientMsgId"] = m.ClientMsgID
	}
	if !m.EditedAt.IsZero() {
		p["editedAt"] = isoTime(m.EditedAt)
	}
	return p
}

func attachmentPayload(a store.Attachment) map[string]any {
	p := map[string]any{}
	if a.Data != nil {
		p["name"], p["type"], p["data"] = a.Name, a.Type, a.Data
		return p
	}
	p["url"] = a.URL
	if a.Name != "" {
		p["name"] = a.Name
	}
	if a.Type != "" {
		p["type"] = a.Type
	}
	if a.Size > 0 {
		p["size"] = float64(a.Size)
	}
	return p
}

// presenceInfo is docs/events.md's PresenceInfo.
func presenceInfo(userID, username, status string, lastSeen time.Time) map[string]any {
	p := map[string]any{"userId": userID, "username": username, "status": status}
	if !lastSeen.IsZero() {
		p["lastSeen"] = isoTime(lastSeen)
	}
	return p
}

package hub

import (
	"strconv"
	"time"

	"edgeio/hub/store"
	"edgeio/server"
	"edgeio/server/security"
)

const (
	maxAttachments  = 10
	maxClientMsgID  = 128
	maxAttachString = 255
	maxMessageID    = 64
)

func (h *Hub) sendMessage(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	obj, room, err := roomObject(args)
	if err != nil {
		return nil, err
	}
	if !m.in(room) {
		return nil, &chatError{code: CodeNotInRoom, message: "join " + room + " first"}
	}
	// before the content is cleaned: a refused flood costs no sanitizing (ms for 10 KB of markup)
	if err := h.allow(h.limits.messages, m, "message_rate"); err != nil {
		return nil, err
	}
	content, err := h.content(obj["content"])
	if err != nil {
		return nil, err
	}
	atts, err := h.attachments(obj["attachments"])
	if err != nil {
		return nil, err
	}
	clientID, err := optString(obj, "clientMsgId", maxClientMsgID)
	if err != nil {
		return nil, err
	}
	if err := h.allowStored(m, storedSize(content, atts)); err != nil {
		return nil, err
	}
	ctx, cancel := h.ctx()
	defer cancel()
	msg, created, durable, serr := store.AppendStaged(ctx, h.store, &store.Message{
		RoomID: room, UserID: m.user.ID, Username: m.name, Content: content, Attachments: atts, ClientMsgID: clientID,
	})
	if serr == nil && h.opts.BroadcastAfterSync {
		serr = durable()
	}
	if serr != nil {
		if clientID != "" {
			h.unannounced.remember(m.user.ID, clientID)
		}
		return nil, storeError(serr)
	}
	if clientID != "" && h.unannounced.take(m.user.ID, clientID) {
		created = true // stored by the attempt that failed, and never announced
	}
	// The room hears of the message while its commit's fsync runs; the ack waits for it
	// (docs/events.md). A commit that fails withdraws what the room was shown.
	payload := messagePayload(msg)
	if created {
		h.stopTyping(m, room)
		_ = h.nsp.To(room).Emit("new-message", payload)
	}
	if err := durable(); err != nil {
		if created {
			_ = h.nsp.To(room).Emit("message-deleted", msg.ID)
		}
		return nil, storeError(err)
	}
	return map[string]any{"message": payload}, nil
}

func (h *Hub) editMessage(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	obj, err := argObject(args)
	if err != nil {
		return nil, err
	}
	id, err := messageIDArg(obj["messageId"])
	if err != nil {
		return nil, err
	}
	if err := h.allow(h.limits.edits, m, "edit_rate"); err != nil {
		return nil, err
	}
	content, err := h.content(obj["content"])
	if err != nil {
		return nil, err
	}
	if err := h.checkOwnMessage(m, id); err != nil {
		return nil, err
	}
	if err := h.allowStored(m, len(content)); err != nil {
		return nil, err
	}
	ctx, cancel := h.ctx()
	msg, serr := h.store.Edit(ctx, id, m.user.ID, content, time.Now())
	cancel()
	if serr != nil {
		return nil, storeError(serr)
	}
	_ = h.nsp.To(msg.RoomID).Emit("message-edited", map[string]any{
		"messageId": msg.ID, "roomId": msg.RoomID, "content": msg.Content, "editedAt": isoTime(msg.EditedAt),
	})
	return map[string]any{"message": messagePayload(msg)}, nil
}

func (h *Hub) deleteMessage(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	if len(args) == 0 {
		return nil, invalid("messageId is required")
	}
	id, err := messageIDArg(args[0])
	if err != nil {
		return nil, err
	}
	if err := h.allow(h.limits.edits, m, "edit_rate"); err != nil {
		return nil, err
	}
	if err := h.checkOwnMessage(m, id); err != nil {
		return nil, err
	}
	ctx, cancel := h.ctx()
	msg, serr := h.store.Delete(ctx, id, m.user.ID, time.Now())
	cancel()
	if serr != nil {
		return nil, storeError(serr)
	}
	_ = h.nsp.To(msg.RoomID).Emit("message-deleted", msg.ID)
	return map[string]any{"messageId": msg.ID}, nil
}

// checkOwnMessage refuses an edit or delete of a message that does not exist, whose room
// the socket is not in, or that another user wrote (before it costs any storage quota; the
// store checks the author again).
func (h *Hub) checkOwnMessage(m *member, id string) *chatError {
	ctx, cancel := h.ctx()
	msg, err := h.store.Get(ctx, id)
	cancel()
	if err != nil {
		return storeError(err)
	}
	if msg.Deleted {
		return storeError(store.ErrNotFound)
	}
	if !m.in(msg.RoomID) {
		return &chatError{code: CodeNotInRoom, message: "join " + msg.RoomID + " first"}
	}
	if msg.UserID != m.user.ID {
		return storeError(store.ErrForbidden)
	}
	return nil
}

func (h *Hub) getHistory(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	obj, room, err := roomObject(args)
	if err != nil {
		return nil, err
	}
	before, err := optString(obj, "before", maxMessageID)
	if err != nil {
		return nil, err
	}
	after, err := optString(obj, "after", maxMessageID)
	if err != nil {
		return nil, err
	}
	if before != "" && after != "" {
		return nil, invalid("give before or after, not both")
	}
	limit, err := optInt(obj, "limit", 1, 100, 50)
	if err != nil {
		return nil, err
	}
	if !m.user.MayJoin(room, h.opts.RoomPolicy) {
		return nil, &chatError{code: CodeForbidden, message: "you may not read " + room}
	}
	ctx, cancel := h.ctx()
	msgs, more, serr := h.store.History(ctx, room, store.HistoryQuery{Before: before, After: after, Limit: limit, MaxBytes: max(h.opts.HistoryMaxBytes, 0)})
	cancel()
	if serr != nil {
		return nil, storeError(serr)
	}
	list := make([]any, len(msgs))
	for i, msg := range msgs {
		list[i] = messagePayload(msg)
	}
	return map[string]any{"roomId": room, "messages": list, "hasMore": more}, nil
}

func messageIDArg(v any) (string, *chatError) {
	id, ok := v.(string)
	if !ok || id == "" || len(id) > maxMessageID {
		return "", invalid("messageId must be a message id string")
	}
	return id, nil
}

// content cleans message text and checks its length.
func (h *Hub) content(v any) (string, *chatError) {
	s, err := argString([]any{v}, "content")
	if v == nil || err != nil {
		return "", invalid("content must be a string")
	}
	clean, n := security.CleanText(s, h.opts.Sanitize)
	if n == 0 {
		return "", invalid("content must not be empty")
	}
	if n > h.opts.MaxContentLength {
		return "", &chatError{code: CodePayloadTooLarge, message: "content must be at most " + strconv.Itoa(h.opts.MaxContentLength) + " characters"}
	}
	return clean, nil
}

// attachments reads up to ten links (http or https) or inline binary files.
func (h *Hub) attachments(v any) ([]store.Attachment, *chatError) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok || len(list) > maxAttachments {
		return nil, invalid("attachments must be a list of at most 10")
	}
	out := make([]store.Attachment, 0, len(list))
	for _, item := range list {
		a, ok := item.(map[string]any)
		if !ok {
			return nil, invalid("each attachment must be an object")
		}
		name, err := optString(a, "name", maxAttachString)
		if err != nil {
			return nil, err
		}
		typ, err := optString(a, "type", maxAttachString)
		if err != nil {
			return nil, err
		}
		name, _ = security.CleanText(name, h.opts.Sanitize)
		typ, _ = security.CleanText(typ, h.opts.Sanitize)
		if data, present := a["data"]; present {
			b, ok := data.([]byte)
			if !ok || name == "" || len(b) == 0 {
				return nil, invalid("an inline attachment needs a name and binary data")
			}
			out = append(out, store.Attachment{Name: name, Type: typ, Data: b})
			continue
		}
		link, _ := a["url"].(string)
		if !security.ValidLink(link) {
			return nil, invalid("an attachment link must be an http or https URL")
		}
		size, err := optInt(a, "size", 0, 1<<50, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, store.Attachment{URL: link, Name: name, Type: typ, Size: int64(size)})
	}
	return out, nil
}

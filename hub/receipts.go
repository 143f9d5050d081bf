package hub

import (
	"slices"
	"time"

	"edgeio/hub/store"
	"edgeio/server"
	"edgeio/server/auth"
)

const maxReceiptIDs = 500

func (h *Hub) markAsRead(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	obj, room, err := roomObject(args)
	if err != nil {
		return nil, err
	}
	list, ok := obj["messageIds"].([]any)
	if !ok || len(list) == 0 || len(list) > maxReceiptIDs {
		return nil, invalid("messageIds must be a list of 1 to 500 message ids")
	}
	ids := make([]string, len(list))
	for i, v := range list {
		id, ok := v.(string)
		if !ok || id == "" || len(id) > 64 {
			return nil, invalid("messageIds must hold message id strings")
		}
		ids[i] = id
	}
	if !m.in(room) {
		return nil, &chatError{code: CodeNotInRoom, message: "not in room " + room}
	}
	if err := h.allow(h.limits.receipts, m, "receipt_rate"); err != nil {
		return nil, err
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ctx, cancel := h.ctx()
	defer cancel()
	// Only ids of the room's messages go out in messages-read: anything else a client
	// sends (another room's ids, made-up strings, markup) is dropped, in one store call.
	read, serr := h.store.InRoom(ctx, room, ids)
	if serr != nil {
		return nil, storeError(serr)
	}
	// ids sort in creation order, so the newest one read is the watermark: it must be a
	// message of the room
	newest := ids[len(ids)-1]
	if len(read) == 0 || read[len(read)-1] != newest {
		return nil, storeError(store.ErrNotFound)
	}
	serr = h.store.MarkRead(ctx, room, m.user.ID, newest)
	var watermark string
	if serr == nil {
		// the watermark never moves back: answer with the one kept, not the one asked
		watermark, _, serr = h.store.ReadState(ctx, room, m.user.ID)
	}
	if serr != nil {
		return nil, storeError(serr)
	}
	h.receipts.Add(roomUser{room, m.user.ID}, read...)
	return map[string]any{"roomId": room, "lastReadId": watermark}, nil
}

// flushReceipts sends one messages-read for what a user read in a room during the window:
// to the room, or in a big room to the reader's own sockets (its other devices clear their
// badges), the room hearing of it in the tick's room-reads.
func (h *Hub) flushReceipts(k roomUser, ids []string) {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	list := make([]any, len(ids))
	for i, id := range ids {
		list[i] = id
	}
	to := k.room
	if h.big(k.room) {
		h.batchRead(k.room, k.user, ids[len(ids)-1])
		to = auth.PersonalRoom(k.user)
	}
	_ = h.nsp.To(to).Emit("messages-read", map[string]any{
		"roomId": k.room, "messageIds": list, "userId": k.user, "readAt": isoTime(time.Now()),
	})
}

package hub

import (
	"log"

	"edgeio/server"
)

// Offline catch-up: the store remembers the rooms each user joined (and did not leave),
// and a socket that connects is told, in one unread-counts event, its user's read
// watermark and unread count in each; it pages what it missed with get-history after the
// watermark (docs/events.md).

// follow records (or forgets) that the user is in the room. A failure costs the user
// only that room's line in a later unread-counts: the join or leave itself stands.
func (h *Hub) follow(room, user string, on bool) {
	ctx, cancel := h.ctx()
	defer cancel()
	var err error
	if on {
		err = h.store.Follow(ctx, room, user)
	} else {
		err = h.store.Unfollow(ctx, room, user)
	}
	if err != nil {
		log.Printf("edgeio: chat: remembering %s in %s: %v", user, room, err)
	}
}

// sendUnread tells a socket that just connected where its user stands in its rooms:
// unread-counts { rooms: [{ roomId, lastReadId, unreadCount }] }, nothing for a user in
// no room.
func (h *Hub) sendUnread(s *server.Socket, m *member) {
	ctx, cancel := h.ctx()
	defer cancel()
	rooms, err := h.store.Rooms(ctx, m.user.ID)
	if err != nil || len(rooms) == 0 {
		return
	}
	out := make([]any, 0, len(rooms))
	for _, room := range rooms {
		if !m.user.MayJoin(room, h.opts.RoomPolicy) {
			continue // its token no longer lets it in
		}
		last, unread, err := h.store.ReadState(ctx, room, m.user.ID)
		if err != nil {
			return // the store is away: the client still has join-room's figures
		}
		var lastRead any
		if last != "" {
			lastRead = last
		}
		out = append(out, map[string]any{"roomId": room, "lastReadId": lastRead, "unreadCount": float64(unread)})
	}
	_ = s.Emit("unread-counts", map[string]any{"rooms": out})
}

package hub

import (
	"edgeio/server"
)

func (h *Hub) joinRoom(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	room, err := firstRoomArg(args)
	if err != nil {
		return nil, err
	}
	if err := h.allow(h.limits.joins, m, "join_rate"); err != nil {
		return nil, err
	}
	if !m.user.MayJoin(room, h.opts.RoomPolicy) {
		return nil, &chatError{code: CodeForbidden, message: "you may not join " + room}
	}
	m.mu.Lock()
	_, already := m.rooms[room]
	if !already && len(m.rooms) >= h.opts.MaxRoomsPerSocket {
		m.mu.Unlock()
		return nil, &chatError{code: CodeForbidden, message: "too many rooms on one connection"}
	}
	m.rooms[room] = struct{}{}
	m.mu.Unlock()

	ctx, cancel := h.ctx()
	lastRead, unread, serr := h.store.ReadState(ctx, room, m.user.ID)
	cancel()
	if serr != nil {
		m.mu.Lock()
		if !already {
			delete(m.rooms, room)
		}
		m.mu.Unlock()
		return nil, storeError(serr)
	}
	if !already {
		h.follow(room, m.user.ID, true)
		s.Join(room)
		h.announce(s, m, room)
	}
	var last any
	if lastRead != "" {
		last = lastRead
	}
	return map[string]any{"roomId": room, "lastReadId": last, "unreadCount": float64(unread)}, nil
}

// rejoin counts a recovered socket back into the rooms it got back, as join-room would
// (room-member-joined when its user is back), leaving those its new token no longer allows.
func (h *Hub) rejoin(s *server.Socket, m *member) {
	for _, room := range s.RestoredRooms() {
		if room == exceptUser(m) {
			continue
		}
		if !m.user.MayJoin(room, h.opts.RoomPolicy) {
			s.Leave(room)
			continue
		}
		m.mu.Lock()
		m.rooms[room] = struct{}{}
		m.mu.Unlock()
		h.announce(s, m, room)
	}
}

// announce counts s into room and tells the room's other users when it is its user's
// first socket there.
func (h *Hub) announce(s *server.Socket, m *member, room string) {
	first, info := h.enterRoom(m, room)
	switch {
	case !first:
	case h.big(room):
		h.batchJoin(room, info)
	default:
		_ = s.To(room).Except(exceptUser(m)).Emit("room-member-joined", map[string]any{"roomId": room, "user": info})
	}
}

// tellLeft tells room that user left it: room-member-left, or a line of the tick's batch
// in a big room. local keeps it to this node's sockets.
func (h *Hub) tellLeft(room, user string, local bool) {
	h.mu.Lock()
	big := h.bigLocked(room)
	if big {
		h.batchLeaveLocked(room, user, local)
	}
	h.mu.Unlock()
	if !big {
		_ = h.to(local, room).Emit("room-member-left", map[string]any{"roomId": room, "userId": user})
	}
}

func (h *Hub) leaveRoom(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	room, err := firstRoomArg(args)
	if err != nil {
		return nil, err
	}
	if err := h.allow(h.limits.joins, m, "join_rate"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	_, in := m.rooms[room]
	delete(m.rooms, room)
	m.mu.Unlock()
	if !in {
		return nil, &chatError{code: CodeNotInRoom, message: "not in room " + room}
	}
	h.stopTyping(m, room)
	h.follow(room, m.user.ID, false)
	if room != exceptUser(m) { // a socket never leaves its personal room
		s.Leave(room)
	}
	if h.exitRoom(m.user.ID, room) {
		h.tellLeft(room, m.user.ID, false)
	}
	return map[string]any{"roomId": room}, nil
}

// enterRoom counts a socket of m's user into room; first reports whether it is the user's
// first socket there.
func (h *Hub) enterRoom(m *member, room string) (first bool, info map[string]any) {
	wait := noWait
	defer func() { wait() }() // after the unlock: the ack waits for the room's traffic
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[m.user.ID]
	u.rooms[room]++
	if u.rooms[room] == 1 {
		users := h.roomUsers[room]
		if users == nil {
			users = make(map[string]*userState)
			h.roomUsers[room] = users
			if h.cluster != nil {
				wait = h.cluster.Subscribe("/", room)
			}
		}
		users[u.id] = u
		first = !h.inRoomElsewhereLocked(u.id, room)
		h.shareLocked(u)
	}
	return first, u.info()
}

// exitRoom counts a socket of the user out of room; it reports whether that was the user's
// last socket there.
func (h *Hub) exitRoom(userID, room string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[userID]
	if u == nil || u.rooms[room] == 0 {
		return false
	}
	u.rooms[room]--
	if u.rooms[room] > 0 {
		return false
	}
	delete(u.rooms, room)
	delete(h.roomUsers[room], userID)
	if len(h.roomUsers[room]) == 0 {
		delete(h.roomUsers, room)
		if h.cluster != nil {
			h.cluster.Unsubscribe("/", room)
		}
	}
	h.shareLocked(u)
	return !h.inRoomElsewhereLocked(userID, room)
}

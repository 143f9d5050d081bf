package hub

import (
	"sort"
	"time"

	"edgeio/server"
	"edgeio/server/auth"
)

var statuses = map[string]bool{"online": true, "away": true, "busy": true, "offline": true}

// visible is the status others see: offline when no socket is connected or when invisible.
func (u *userState) visible() string {
	if u.sockets == 0 {
		return "offline"
	}
	return u.status
}

// info is the user's PresenceInfo; the caller holds h.mu.
func (u *userState) info() map[string]any {
	var seen time.Time
	if u.visible() == "offline" {
		seen = u.lastSeen
	}
	return presenceInfo(u.id, u.name, u.visible(), seen)
}

// connected counts a new socket of m's user; a socket inside the grace of the user's last
// disconnect cancels the offline announcement (a page reload does not flap).
func (h *Hub) connected(m *member) {
	wait := noWait
	defer func() { wait() }()
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[m.user.ID]
	if u == nil {
		u = &userState{id: m.user.ID, status: "online", rooms: make(map[string]int)}
		if status, at := h.latestStatusLocked(u.id); status != "" && h.onlineElsewhereLocked(u.id) {
			u.status, u.statusAt = status, at // the user is here already, through another node
		}
		h.users[u.id] = u
	}
	u.name = m.name
	if u.grace != nil {
		u.grace.Stop()
		u.grace = nil
		u.left = nil
	}
	u.sockets++
	if u.sockets == 1 && h.cluster != nil {
		wait = h.cluster.Subscribe("/", auth.PersonalRoom(u.id))
	}
	h.shareLocked(u)
}

// disconnected ends a socket: its typing stops, its rooms are left (room-member-left where it
// was the user's last socket), and with the user's last socket the offline announcement is
// scheduled.
func (h *Hub) disconnected(s *server.Socket, m *member) {
	m.mu.Lock()
	rooms := make([]string, 0, len(m.rooms))
	for r := range m.rooms {
		rooms = append(rooms, r)
	}
	m.rooms = map[string]struct{}{}
	m.mu.Unlock()
	for _, r := range rooms {
		h.stopTyping(m, r)
	}
	if h.cluster != nil && len(rooms) > 0 && s.KeptForRecovery() {
		// Other nodes' broadcasts to its rooms keep coming, into the recovery log, while the
		// client may come back for them (here, or to another node that collects them).
		h.cluster.Hold("/", rooms)
		s.AfterRecovery(func() { h.cluster.Release("/", rooms) })
	}

	var left []string
	for _, r := range rooms {
		if h.exitRoom(m.user.ID, r) {
			left = append(left, r)
		}
	}
	for _, r := range left {
		_ = h.nsp.To(r).Emit("room-member-left", map[string]any{"roomId": r, "userId": m.user.ID})
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[m.user.ID]
	u.sockets--
	u.left = append(u.left, left...)
	h.shareLocked(u)
	if u.sockets > 0 {
		return
	}
	if h.cluster != nil {
		h.cluster.Unsubscribe("/", auth.PersonalRoom(u.id))
	}
	u.grace = time.AfterFunc(h.opts.PresenceGrace, func() { h.goneOffline(u) })
}

// goneOffline announces that a user's grace ended with no socket back.
func (h *Hub) goneOffline(u *userState) {
	h.mu.Lock()
	if u.sockets > 0 || h.users[u.id] != u {
		h.mu.Unlock()
		return
	}
	delete(h.users, u.id)
	u.lastSeen = time.Now()
	rooms := u.left
	elsewhere := h.onlineElsewhereLocked(u.id)
	h.mu.Unlock()
	if len(rooms) == 0 || elsewhere {
		return
	}
	_ = h.nsp.To(rooms...).Emit("presence-update", map[string]any{"userId": u.id, "status": "offline", "lastSeen": isoTime(u.lastSeen)})
}

func (h *Hub) updatePresence(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	status, err := argString(args, "status")
	if err != nil {
		return nil, err
	}
	if !statuses[status] {
		return nil, invalid(`status must be "online", "away", "busy" or "offline"`)
	}
	if err := h.allow(h.limits.presence, m, "presence_rate"); err != nil {
		return nil, err
	}
	h.mu.Lock()
	u := h.users[m.user.ID]
	u.status, u.statusAt = status, time.Now()
	h.shareLocked(u)
	targets := h.roomsEverywhereLocked(u.id)
	h.mu.Unlock()
	targets = append(targets, auth.PersonalRoom(m.user.ID))
	payload := map[string]any{"userId": m.user.ID, "status": status}
	if status == "offline" {
		payload["lastSeen"] = isoTime(time.Now())
	}
	_ = s.To(targets...).Emit("presence-update", payload)
	return map[string]any{"status": status}, nil
}

func (h *Hub) getRoomPresence(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	room, err := firstRoomArg(args)
	if err != nil {
		return nil, err
	}
	if !m.user.MayJoin(room, h.opts.RoomPolicy) {
		return nil, &chatError{code: CodeForbidden, message: "you may not see " + room}
	}
	users := h.roomPresence(room)
	_ = s.Emit("room-presence", map[string]any{"roomId": room, "users": users})
	return map[string]any{"roomId": room, "users": users}, nil
}

// roomPresence lists the PresenceInfo of the users in room, by user id.
func (h *Hub) roomPresence(room string) []any {
	h.mu.Lock()
	infos := h.remotePresenceLocked(room, h.roomUsers[room])
	for id, u := range h.roomUsers[room] {
		infos[id] = u.info()
	}
	h.mu.Unlock()
	ids := make([]string, 0, len(infos))
	for id := range infos {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = infos[id]
	}
	return out
}

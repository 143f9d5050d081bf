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
		h.tellLeft(r, m.user.ID, false)
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
	h.tellPresence(nil, rooms, map[string]any{"userId": u.id, "status": "offline", "lastSeen": isoTime(u.lastSeen)}, false)
}

// tellPresence sends a presence change to rooms, once to each socket (but from's, when it
// is the sender): presence-update where the room is small, a line of the tick's
// room-presence-changed where it is big. local keeps it to this node's sockets.
func (h *Hub) tellPresence(from *server.Socket, rooms []string, payload map[string]any, local bool) {
	small := rooms[:0:0]
	h.mu.Lock()
	for _, r := range rooms {
		if h.bigLocked(r) {
			h.batchStatusLocked(r, payload, local)
		} else {
			small = append(small, r)
		}
	}
	h.mu.Unlock()
	switch {
	case len(small) == 0:
	case from != nil:
		_ = from.To(small...).Emit("presence-update", payload)
	default:
		_ = h.to(local, small...).Emit("presence-update", payload)
	}
}

// to is a broadcast to rooms, on every node or (local) on this one only.
func (h *Hub) to(local bool, rooms ...string) *server.BroadcastOperator {
	op := h.nsp.To(rooms...)
	if local {
		op = op.Local()
	}
	return op
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
	h.tellPresence(s, targets, payload, false)
	return map[string]any{"status": status}, nil
}

// Pages of get-room-presence: a big room's list, or any room's when a page is asked for.
const (
	presencePage    = 100
	presencePageMax = 500
	maxUserID       = 256 // a cursor longer than any user id is a mistake
)

// getRoomPresence answers roomId, or { roomId, after?, limit? }: the room's users by user
// id; a big room's (or an asked-for page) a page at a time, with memberCount and hasMore.
func (h *Hub) getRoomPresence(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	var room, after string
	limit, paged := presencePage, false
	var err *chatError
	if obj, isObj := argAt(args, 0).(map[string]any); isObj {
		if room, err = roomArg(obj["roomId"]); err != nil {
			return nil, err
		}
		if after, err = optString(obj, "after", maxUserID); err != nil {
			return nil, err
		}
		if limit, err = optInt(obj, "limit", 1, presencePageMax, presencePage); err != nil {
			return nil, err
		}
		paged = after != "" || obj["limit"] != nil
	} else if room, err = firstRoomArg(args); err != nil {
		return nil, err
	}
	if !m.user.MayJoin(room, h.opts.RoomPolicy) {
		return nil, &chatError{code: CodeForbidden, message: "you may not see " + room}
	}
	users, total, more := h.roomPresence(room, after, limit, paged)
	answer := map[string]any{"roomId": room, "users": users}
	if total >= 0 {
		answer["memberCount"], answer["hasMore"] = float64(total), more
	}
	_ = s.Emit("room-presence", answer)
	return answer, nil
}

// roomPresence lists the PresenceInfo of the users in room by user id: all of them in a
// small room unless paged (total is then -1), else at most limit after the id after, with
// the room's user count and whether more follow. Only the page's users are looked up.
func (h *Hub) roomPresence(room, after string, limit int, paged bool) (users []any, total int, more bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	local := h.roomUsers[room]
	ids := make([]string, 0, len(local)+len(h.remoteRooms[room]))
	for id := range local {
		ids = append(ids, id)
	}
	for id := range h.remoteRooms[room] {
		if local[id] == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	total = -1
	if paged || h.bigLocked(room) {
		total = len(ids)
		ids = ids[sort.SearchStrings(ids, after):]
		if len(ids) > 0 && ids[0] == after {
			ids = ids[1:]
		}
		more = len(ids) > limit
		ids = ids[:min(len(ids), limit)]
	}
	users = make([]any, len(ids))
	for i, id := range ids {
		if u := local[id]; u != nil {
			users[i] = u.info()
		} else {
			users[i] = h.remotePresenceLocked(room, id)
		}
	}
	return users, total, more
}

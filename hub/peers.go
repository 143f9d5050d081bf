package hub

import (
	"maps"
	"slices"
	"sort"
	"time"

	"edgeio/codec"
)

// Cluster is what the hub needs from hub/cluster when several nodes serve one chat: room
// subscriptions, and a way to tell the other nodes' hubs about this node's users.
type Cluster interface {
	// Subscribe queues a subscription; wait returns once it is in force.
	Subscribe(nsp, room string) (wait func())
	Unsubscribe(nsp, room string)
	// Hold and Release count a member in and out of several rooms at once.
	Hold(nsp string, rooms []string) (wait func())
	Release(nsp string, rooms []string)
	SendPeers(msg []byte)
}

// noWait is what a subscription costs a hub without a cluster.
func noWait() {}

// remoteUser is what another node said about one of its users.
type remoteUser struct {
	name, status string
	statusAt     time.Time // when the user chose the status
	on           bool      // has a socket there
	rooms        map[string]bool
}

// AttachCluster makes the hub one of several nodes. Call before serving.
func (h *Hub) AttachCluster(c Cluster) { h.cluster = c }

// peerShareEvery is the least time between two messages that tell the other nodes of this
// node's users: the changes made meanwhile (the connects and joins of a connect storm) go
// together in the next one, each user's latest view once. A change after a quiet spell
// goes at once.
const peerShareEvery = 10 * time.Millisecond

// shareLocked tells the other nodes this node's view of u, now or with the next message
// (callers hold h.mu).
func (h *Hub) shareLocked(u *userState) {
	if h.cluster == nil {
		return
	}
	h.sharing[u.id] = u
	if h.shareTimer != nil {
		return // a message is due: u goes with it
	}
	if wait := peerShareEvery - time.Since(h.sharedAt); wait > 0 {
		h.shareTimer = time.AfterFunc(wait, func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.shareTimer = nil
			h.flushSharesLocked()
		})
		return
	}
	h.flushSharesLocked()
}

// flushSharesLocked sends the views waiting to be told (callers hold h.mu).
func (h *Hub) flushSharesLocked() {
	if len(h.sharing) == 0 {
		return
	}
	users := slices.Collect(maps.Values(h.sharing))
	clear(h.sharing)
	h.sharedAt = time.Now()
	h.sendUsers(false, users)
}

func (h *Hub) sendUsers(full bool, users []*userState) {
	list := make([]any, len(users))
	for i, u := range users {
		rooms := make([]any, 0, len(u.rooms))
		for r := range u.rooms {
			rooms = append(rooms, r)
		}
		list[i] = map[string]any{"id": u.id, "name": u.name, "status": u.status, "at": float64(u.statusAt.UnixMilli()),
			"on": u.sockets > 0, "rooms": rooms}
	}
	msg, err := codec.EncodeMsgpackValue(nil, map[string]any{"full": full, "users": list})
	if err == nil {
		h.cluster.SendPeers(msg)
	}
}

// PeerUp answers a node that appeared (or a Redis that came back) with this node's users.
func (h *Hub) PeerUp(string) {
	if h.cluster == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.sharing) // the full view has every user's latest
	h.sharedAt = time.Now()
	h.sendUsers(true, slices.Collect(maps.Values(h.users)))
}

// PeerMessage applies another node's view of its users.
func (h *Hub) PeerMessage(node string, msg []byte) {
	v, err := codec.DecodeMsgpackValue(msg)
	m, _ := v.(map[string]any)
	if err != nil || m == nil {
		return
	}
	users, _ := m["users"].([]any)
	h.mu.Lock()
	defer h.mu.Unlock()
	view := h.remote[node]
	if view == nil || m["full"] == true {
		for id, ru := range view {
			h.indexRemoteLocked(id, ru, nil)
		}
		view = make(map[string]*remoteUser)
		h.remote[node] = view
	}
	for _, item := range users {
		u, _ := item.(map[string]any)
		id, _ := u["id"].(string)
		if id == "" {
			continue
		}
		ru := &remoteUser{rooms: make(map[string]bool)}
		ru.name, _ = u["name"].(string)
		ru.status, _ = u["status"].(string)
		at, _ := u["at"].(float64)
		ru.statusAt = time.UnixMilli(int64(at))
		ru.on = u["on"] == true
		if local := h.users[id]; local != nil && ru.statusAt.After(local.statusAt) {
			// a status is the user's, not a node's: the latest choice anywhere holds here too
			local.status, local.statusAt = ru.status, ru.statusAt
		}
		rooms, _ := u["rooms"].([]any)
		for _, r := range rooms {
			if s, ok := r.(string); ok {
				ru.rooms[s] = true
			}
		}
		h.indexRemoteLocked(id, view[id], ru)
		if !ru.on && len(ru.rooms) == 0 {
			delete(view, id)
		} else {
			view[id] = ru
		}
	}
}

// indexRemoteLocked moves a remote user from the rooms of old to those of now in
// remoteRooms (either may be nil), so that a room's size is known without visiting every
// node's users (callers hold h.mu).
func (h *Hub) indexRemoteLocked(id string, old, now *remoteUser) {
	if old != nil {
		for r := range old.rooms {
			if now != nil && now.rooms[r] {
				continue
			}
			if h.remoteRooms[r][id]--; h.remoteRooms[r][id] <= 0 {
				delete(h.remoteRooms[r], id)
				if len(h.remoteRooms[r]) == 0 {
					delete(h.remoteRooms, r)
				}
			}
		}
	}
	if now != nil {
		for r := range now.rooms {
			if old != nil && old.rooms[r] {
				continue
			}
			if h.remoteRooms[r] == nil {
				h.remoteRooms[r] = make(map[string]int)
			}
			h.remoteRooms[r][id]++
		}
	}
}

// PeerDown forgets a node that left or went silent: its users leave the rooms they are in
// nowhere else, and go offline if no node has them, told to this node's sockets only (every
// node does the same for its own).
func (h *Hub) PeerDown(node string) {
	type leaving struct{ room, user string }
	var left []leaving
	offline := map[string][]string{}
	h.mu.Lock()
	view := h.remote[node]
	delete(h.remote, node)
	for id, ru := range view {
		h.indexRemoteLocked(id, ru, nil)
	}
	for id, ru := range view {
		for r := range ru.rooms {
			if !h.inRoomAnywhereLocked(id, r) {
				left = append(left, leaving{r, id})
			}
		}
		if ru.on && !h.onlineAnywhereLocked(id) {
			rooms := make([]string, 0, len(ru.rooms))
			for r := range ru.rooms {
				rooms = append(rooms, r)
			}
			offline[id] = rooms
		}
	}
	h.mu.Unlock()
	for _, l := range left {
		h.tellLeft(l.room, l.user, true)
	}
	seen := isoTime(time.Now())
	for id, rooms := range offline {
		if len(rooms) > 0 {
			h.tellPresence(nil, rooms, map[string]any{"userId": id, "status": "offline", "lastSeen": seen}, true)
		}
	}
}

// inRoomElsewhereLocked reports whether another node has a socket of user in room.
func (h *Hub) inRoomElsewhereLocked(user, room string) bool {
	for _, view := range h.remote {
		if ru := view[user]; ru != nil && ru.rooms[room] {
			return true
		}
	}
	return false
}

func (h *Hub) inRoomAnywhereLocked(user, room string) bool {
	if u := h.users[user]; u != nil && u.rooms[room] > 0 {
		return true
	}
	return h.inRoomElsewhereLocked(user, room)
}

// onlineElsewhereLocked reports whether another node has a socket of user.
func (h *Hub) onlineElsewhereLocked(user string) bool {
	for _, view := range h.remote {
		if ru := view[user]; ru != nil && ru.on {
			return true
		}
	}
	return false
}

func (h *Hub) onlineAnywhereLocked(user string) bool {
	if u := h.users[user]; u != nil && u.sockets > 0 {
		return true
	}
	return h.onlineElsewhereLocked(user)
}

// latestStatusLocked is the status the user chose last on any other node, if any.
func (h *Hub) latestStatusLocked(user string) (status string, at time.Time) {
	for _, view := range h.remote {
		if ru := view[user]; ru != nil && ru.statusAt.After(at) {
			status, at = ru.status, ru.statusAt
		}
	}
	return status, at
}

// roomsEverywhereLocked is every room a user is in, on any node.
func (h *Hub) roomsEverywhereLocked(user string) []string {
	set := map[string]bool{}
	if u := h.users[user]; u != nil {
		for r := range u.rooms {
			set[r] = true
		}
	}
	for _, view := range h.remote {
		if ru := view[user]; ru != nil {
			for r := range ru.rooms {
				set[r] = true
			}
		}
	}
	out := make([]string, 0, len(set)+1)
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// remotePresenceLocked is the PresenceInfo of a user that only other nodes have in room:
// the view of a node where it is connected, or else the latest status chosen.
func (h *Hub) remotePresenceLocked(room, id string) map[string]any {
	var chosen *remoteUser
	for _, view := range h.remote {
		ru := view[id]
		if ru == nil || !ru.rooms[room] {
			continue
		}
		if chosen != nil && (chosen.on && !ru.on || chosen.on == ru.on && !ru.statusAt.After(chosen.statusAt)) {
			continue // a connected view, or a later choice, already speaks for the user
		}
		chosen = ru
	}
	if chosen == nil {
		return nil
	}
	status := chosen.status
	if !chosen.on {
		status = "offline"
	}
	return presenceInfo(id, chosen.name, status, time.Time{})
}

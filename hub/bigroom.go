package hub

import (
	"maps"
	"slices"
	"time"
)

// Big rooms (docs/events.md, "Big rooms"). In a room of at least Options.BigRoom members,
// what each member would otherwise hear of every other member one packet at a time (joins
// and leaves, presence changes, read receipts, typing) is gathered over a tick and sent as
// one event of each kind, with counts and short lists: n members then cost O(n) packets a
// tick, not O(n²) over a join storm or a round of receipts. Smaller rooms keep the events
// of one member each.

// How many entries a coalesced event lists; the rest are only counted.
const (
	bigListed   = 20 // room-members-changed: joined and left
	bigStatuses = 50 // room-presence-changed
	bigReaders  = 50 // room-reads
	bigTypists  = 5  // room-typing
)

// roomBatch is what happened in one big room since the last tick.
type roomBatch struct {
	joined         []any // PresenceInfo of the first users to join
	left           []any // ids of the first users to leave
	joinedN, leftN int
	statuses       map[string]any    // user → its newest presence, the first bigStatuses users
	statusesN      int               // presence changes in all
	reads          map[string]string // reader → newest message id read, the first bigReaders readers
	readsN         int
	typingChanged  bool
	local          bool // what only this node's sockets must hear (another node went away)
}

// batchKey names a room's batch: one for the whole cluster, one for this node's sockets.
type batchKey struct {
	room  string
	local bool
}

// bigLocked reports whether room counts as big: its users here and elsewhere (a user on
// two nodes counts twice, which only moves the threshold a little) (callers hold h.mu).
func (h *Hub) bigLocked(room string) bool {
	return h.opts.BigRoom > 0 && len(h.roomUsers[room])+len(h.remoteRooms[room]) >= h.opts.BigRoom
}

// big is bigLocked for callers that do not hold h.mu.
func (h *Hub) big(room string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bigLocked(room)
}

// batchLocked is room's batch of this tick, made on first use (callers hold h.mu).
func (h *Hub) batchLocked(room string, local bool) *roomBatch {
	k := batchKey{room, local}
	b := h.batches[k]
	if b == nil {
		b = &roomBatch{local: local}
		h.batches[k] = b
	}
	return b
}

// batchJoin records that a user joined a big room.
func (h *Hub) batchJoin(room string, info map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.batchLocked(room, false)
	b.joinedN++
	if len(b.joined) < bigListed {
		b.joined = append(b.joined, info)
	}
}

// batchLeaveLocked records that a user left a big room (callers hold h.mu).
func (h *Hub) batchLeaveLocked(room, user string, local bool) {
	b := h.batchLocked(room, local)
	b.leftN++
	if len(b.left) < bigListed {
		b.left = append(b.left, user)
	}
}

// batchStatusLocked records a user's new presence in a big room (callers hold h.mu).
func (h *Hub) batchStatusLocked(room string, status map[string]any, local bool) {
	b := h.batchLocked(room, local)
	b.statusesN++
	id, _ := status["userId"].(string)
	if b.statuses == nil {
		b.statuses = make(map[string]any)
	}
	if _, listed := b.statuses[id]; listed || len(b.statuses) < bigStatuses {
		b.statuses[id] = status
	}
}

// batchRead records the newest message a user read in a big room.
func (h *Hub) batchRead(room, user, newest string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.batchLocked(room, false)
	b.readsN++
	if b.reads == nil {
		b.reads = make(map[string]string)
	}
	if prev, listed := b.reads[user]; listed || len(b.reads) < bigReaders {
		b.reads[user] = max(prev, newest)
	}
}

// batchTypingLocked records that the typists of a big room changed (callers hold h.mu).
func (h *Hub) batchTypingLocked(room string) {
	h.batchLocked(room, false).typingChanged = true
}

// bigRoomLoop sends the batches every tick.
func (h *Hub) bigRoomLoop() {
	defer h.stopped.Done()
	t := time.NewTicker(h.opts.BigRoomTick)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			h.flushBatches()
			return
		case <-t.C:
			h.flushBatches()
		}
	}
}

// outgoing is one coalesced event, built under h.mu and sent after.
type outgoing struct {
	room, event string
	local       bool
	payload     map[string]any
}

// flushBatches sends each big room's coalesced events of the tick.
func (h *Hub) flushBatches() {
	h.mu.Lock()
	batches := h.batches
	h.batches = make(map[batchKey]*roomBatch)
	var out []outgoing
	for k, b := range batches {
		out = append(out, h.coalescedLocked(k.room, b)...)
	}
	h.mu.Unlock()
	for _, o := range out {
		op := h.nsp.To(o.room)
		if o.local {
			op = op.Local()
		}
		_ = op.Emit(o.event, o.payload)
	}
}

// coalescedLocked is the events a batch makes (callers hold h.mu).
func (h *Hub) coalescedLocked(room string, b *roomBatch) []outgoing {
	var out []outgoing
	add := func(event string, payload map[string]any) {
		payload["roomId"] = room
		out = append(out, outgoing{room: room, event: event, local: b.local, payload: payload})
	}
	if b.joinedN+b.leftN > 0 {
		add("room-members-changed", map[string]any{
			"memberCount": float64(h.memberCountLocked(room)),
			"joined":      orEmpty(b.joined), "joinedCount": float64(b.joinedN),
			"left": orEmpty(b.left), "leftCount": float64(b.leftN),
		})
	}
	if b.statusesN > 0 {
		ids := slices.Sorted(maps.Keys(b.statuses))
		users := make([]any, len(ids))
		for i, id := range ids {
			users[i] = b.statuses[id]
		}
		add("room-presence-changed", map[string]any{"users": users, "count": float64(b.statusesN)})
	}
	if b.readsN > 0 {
		ids := slices.Sorted(maps.Keys(b.reads))
		readers := make([]any, len(ids))
		for i, id := range ids {
			readers[i] = map[string]any{"userId": id, "lastReadId": b.reads[id]}
		}
		add("room-reads", map[string]any{"readers": readers, "count": float64(b.readsN), "readAt": isoTime(time.Now())})
	}
	if b.typingChanged {
		users, n := h.typistsLocked(room)
		add("room-typing", map[string]any{"users": users, "count": float64(n)})
	}
	return out
}

// typistsLocked lists up to bigTypists users typing in room, those who typed last first,
// and counts them all (callers hold h.mu).
func (h *Hub) typistsLocked(room string) ([]any, int) {
	type typist struct {
		id    string
		until time.Time
	}
	var all []typist
	for k, until := range h.typing {
		if k.room == room {
			all = append(all, typist{k.user, until})
		}
	}
	slices.SortFunc(all, func(a, b typist) int { return b.until.Compare(a.until) })
	users := make([]any, 0, min(len(all), bigTypists))
	for _, t := range all[:min(len(all), bigTypists)] {
		id := t.id
		name := id
		if u := h.users[id]; u != nil {
			name = u.name
		}
		users = append(users, map[string]any{"userId": id, "username": name})
	}
	return users, len(all)
}

// memberCountLocked is how many users are in room, here and on other nodes (callers hold
// h.mu).
func (h *Hub) memberCountLocked(room string) int {
	n := len(h.roomUsers[room])
	for id := range h.remoteRooms[room] {
		if h.roomUsers[room][id] == nil {
			n++
		}
	}
	return n
}

func orEmpty(list []any) []any {
	if list == nil {
		return []any{}
	}
	return list
}

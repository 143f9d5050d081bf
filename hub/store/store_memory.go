package store

import (
	"context"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"
)

// memoryStore keeps everything in maps and per-room slices sorted by id. Ids are assigned
// under the write lock and grow, so a new message always goes at the end of its room.
type memoryStore struct {
	mu     sync.RWMutex
	closed bool
	byID   map[string]*Message
	rooms  map[string][]*Message
	dedup  map[[2]string]*Message         // {userID, clientMsgID}
	reads  map[[2]string]string           // {roomID, userID} -> watermark id
	follow map[string]map[string]struct{} // userID -> rooms
}

// NewMemory returns an empty in-memory Store with the same semantics as the bolt engine.
func NewMemory() Store {
	return &memoryStore{
		byID:   make(map[string]*Message),
		rooms:  make(map[string][]*Message),
		dedup:  make(map[[2]string]*Message),
		reads:  make(map[[2]string]string),
		follow: make(map[string]map[string]struct{}),
	}
}

// lock takes the lock for writing (or reading) and reports why the call cannot go on.
func (s *memoryStore) lock(ctx context.Context, write bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if write {
		s.mu.Lock()
	} else {
		s.mu.RLock()
	}
	if s.closed {
		s.unlock(write)
		return ErrClosed
	}
	return nil
}

func (s *memoryStore) unlock(write bool) {
	if write {
		s.mu.Unlock()
	} else {
		s.mu.RUnlock()
	}
}

func (s *memoryStore) Append(ctx context.Context, m *Message) (*Message, bool, error) {
	if err := checkAppend(m); err != nil {
		return nil, false, err
	}
	if err := s.lock(ctx, true); err != nil {
		return nil, false, err
	}
	defer s.mu.Unlock()
	key := [2]string{m.UserID, m.ClientMsgID}
	if m.ClientMsgID != "" {
		if old := s.dedup[key]; old != nil {
			return old.clone(), false, nil
		}
	}
	v := ids.next()
	c := m.clone()
	c.ID, c.CreatedAt = formatID(v), idTime(v)
	s.byID[c.ID] = c
	s.rooms[c.RoomID] = append(s.rooms[c.RoomID], c)
	if c.ClientMsgID != "" {
		s.dedup[key] = c
	}
	return c.clone(), true, nil
}

func (s *memoryStore) Get(ctx context.Context, id string) (*Message, error) {
	if err := s.lock(ctx, false); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	m := s.byID[id]
	if m == nil {
		return nil, ErrNotFound
	}
	return m.clone(), nil
}

// update applies change to a copy of message id and, if it succeeds, stores the copy.
func (s *memoryStore) update(ctx context.Context, id string, change func(*Message) error) (*Message, error) {
	if err := s.lock(ctx, true); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	old := s.byID[id]
	if old == nil {
		return nil, ErrNotFound
	}
	c := old.clone()
	if err := change(c); err != nil {
		return nil, err
	}
	*old = *c // in place: the room slice and the dedup index point at old
	return c.clone(), nil
}

func (s *memoryStore) Edit(ctx context.Context, id, userID, content string, at time.Time) (*Message, error) {
	return s.update(ctx, id, func(m *Message) error { return m.edit(userID, content, at) })
}

func (s *memoryStore) Delete(ctx context.Context, id, userID string, at time.Time) (*Message, error) {
	return s.update(ctx, id, func(m *Message) error { return m.tombstone(userID, at) })
}

func (s *memoryStore) History(ctx context.Context, roomID string, q HistoryQuery) ([]*Message, bool, error) {
	if err := s.lock(ctx, false); err != nil {
		return nil, false, err
	}
	defer s.mu.RUnlock()
	page, more, err := slicePage(s.rooms[roomID], q)
	if err != nil {
		return nil, false, err
	}
	out := make([]*Message, len(page))
	for i, m := range page {
		out[i] = m.clone()
	}
	return out, more, nil
}

// slicePage selects the page q asks for from list, sorted by id.
func slicePage(list []*Message, q HistoryQuery) ([]*Message, bool, error) {
	n := pageLimit(q.Limit)
	lo, hi := 0, len(list) // the cursors' exclusive window is list[lo:hi]
	if q.After != "" {
		i, ok := indexOf(list, q.After)
		if !ok {
			return nil, false, ErrNotFound
		}
		lo = i + 1
	}
	if q.Before != "" {
		i, ok := indexOf(list, q.Before)
		if !ok {
			return nil, false, ErrNotFound
		}
		hi = max(i, lo)
	}
	page := pageBytes{max: q.MaxBytes}
	if q.After != "" {
		end := lo
		for end < min(lo+n, hi) && page.fits(msgSize(list[end])) {
			end++
		}
		return list[lo:end], end < hi, nil
	}
	start := hi
	for start > max(hi-n, lo) && page.fits(msgSize(list[start-1])) {
		start--
	}
	return list[start:hi], start > lo, nil
}

// indexOf finds id in list (sorted by id): its index, or where it would go and false.
func indexOf(list []*Message, id string) (int, bool) {
	i := sort.Search(len(list), func(i int) bool { return list[i].ID >= id })
	return i, i < len(list) && list[i].ID == id
}

func (s *memoryStore) InRoom(ctx context.Context, roomID string, ids []string) ([]string, error) {
	if err := s.lock(ctx, false); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	found := []string{}
	for _, id := range ids {
		if m := s.byID[id]; m != nil && m.RoomID == roomID {
			found = append(found, id)
		}
	}
	return found, nil
}

func (s *memoryStore) MarkRead(ctx context.Context, roomID, userID, messageID string) error {
	if err := s.lock(ctx, true); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if m := s.byID[messageID]; m == nil || m.RoomID != roomID {
		return ErrNotFound
	}
	key := [2]string{roomID, userID}
	if messageID > s.reads[key] {
		s.reads[key] = messageID
	}
	return nil
}

func (s *memoryStore) ReadState(ctx context.Context, roomID, userID string) (string, int, error) {
	if err := s.lock(ctx, false); err != nil {
		return "", 0, err
	}
	defer s.mu.RUnlock()
	last := s.reads[[2]string{roomID, userID}]
	list := s.rooms[roomID]
	i, ok := indexOf(list, last)
	if ok {
		i++
	}
	unread := 0
	for ; i < len(list) && unread < MaxUnread; i++ {
		if m := list[i]; !m.Deleted && m.UserID != userID {
			unread++
		}
	}
	return last, unread, nil
}

func (s *memoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *memoryStore) Follow(ctx context.Context, roomID, userID string) error {
	if err := s.lock(ctx, true); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.follow[userID] == nil {
		s.follow[userID] = make(map[string]struct{})
	}
	s.follow[userID][roomID] = struct{}{}
	return nil
}

func (s *memoryStore) Unfollow(ctx context.Context, roomID, userID string) error {
	if err := s.lock(ctx, true); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.follow[userID], roomID)
	return nil
}

func (s *memoryStore) Rooms(ctx context.Context, userID string) ([]string, error) {
	if err := s.lock(ctx, false); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	rooms := slices.Sorted(maps.Keys(s.follow[userID]))
	return rooms[:min(len(rooms), MaxFollowed)], nil
}

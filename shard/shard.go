package shard

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Member is something a shard delivers to: a socket. Deliver runs on the shard's goroutine
// and must not block.
type Member interface {
	Deliver(msg any)
}

// Broadcast is one message for the members of some rooms.
type Broadcast struct {
	Rooms  []string // deliver to the members of any of these rooms, once each
	Except []string // skip the members of these rooms
	Skip   Member   // skip this member too (nil: none)
	Msg    any      // passed to Member.Deliver
	Done   func()   // called once every shard has delivered (may be nil)

	pending atomic.Int32
	queued  time.Time // when it was handed to the shards, if their wait is observed
}

type opKind uint8

const (
	opJoin opKind = iota
	opLeave
	opLeaveAll
	opBroadcast
	opRooms
	opFunc
)

type op struct {
	kind   opKind
	member Member
	rooms  []string
	bc     *Broadcast
	reply  chan []string
	fn     func()
}

// Shard is one event loop and the membership it owns.
type Shard struct {
	ops         chan op
	rooms       map[string]*room
	memberRooms map[Member][]string
	seen        map[Member]struct{} // scratch for multi-room broadcasts
	batch       coalescer
	queueWait   func(time.Duration) // see Group.ObserveQueueWait
	quit        chan struct{}
	done        chan struct{}
}

func newShard(queue int) *Shard {
	s := &Shard{
		ops:         make(chan op, queue),
		rooms:       make(map[string]*room),
		memberRooms: make(map[Member][]string),
		seen:        make(map[Member]struct{}),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	go s.loop()
	return s
}

func (s *Shard) loop() {
	defer close(s.done)
	for {
		var o op
		select {
		case o = <-s.ops:
		case <-s.quit:
			s.drain()
			return
		}
		if o.kind == opBroadcast {
			next, took := s.broadcasts(o.bc)
			if !took {
				continue
			}
			o = next // not a broadcast: it ended the run of them
		}
		s.run(o)
	}
}

func (s *Shard) run(o op) {
	switch o.kind {
	case opJoin:
		s.join(o.member, o.rooms)
	case opLeave:
		s.leave(o.member, o.rooms)
	case opLeaveAll:
		s.leave(o.member, append([]string(nil), s.memberRooms[o.member]...))
	case opRooms:
		o.reply <- append([]string(nil), s.memberRooms[o.member]...)
	case opFunc:
		o.fn()
	}
}

// drain settles what was queued when the shard stopped: broadcasts count as done, queries
// get empty answers, the rest is dropped.
func (s *Shard) drain() {
	for {
		select {
		case o := <-s.ops:
			switch o.kind {
			case opBroadcast:
				if o.bc.pending.Add(-1) == 0 && o.bc.Done != nil {
					o.bc.Done()
				}
			case opRooms:
				o.reply <- nil
			}
		default:
			return
		}
	}
}

func (s *Shard) join(m Member, rooms []string) {
	have := s.memberRooms[m]
	for _, r := range rooms {
		set := s.rooms[r]
		if set == nil {
			set = &room{}
			s.rooms[r] = set
		}
		if set.add(m) {
			have = append(have, r)
		}
	}
	s.memberRooms[m] = have
}

func (s *Shard) leave(m Member, rooms []string) {
	have := s.memberRooms[m]
	for _, r := range rooms {
		set := s.rooms[r]
		if set == nil || !set.remove(m) {
			continue
		}
		if set.len() == 0 {
			delete(s.rooms, r)
		}
		for i, h := range have {
			if h == r {
				have = append(have[:i], have[i+1:]...)
				break
			}
		}
	}
	if len(have) == 0 {
		delete(s.memberRooms, m)
	} else {
		s.memberRooms[m] = have
	}
}

func (s *Shard) excluded(m Member, b *Broadcast) bool {
	if m == b.Skip {
		return true
	}
	for _, r := range b.Except {
		if set := s.rooms[r]; set != nil && set.has(m) {
			return true
		}
	}
	return false
}

// reach calls fn once for each member b is for: in one of its rooms, not excluded.
func (s *Shard) reach(b *Broadcast, fn func(Member)) {
	if len(b.Rooms) == 1 {
		set := s.rooms[b.Rooms[0]]
		switch {
		case set == nil:
		case set.many == nil:
			if !s.excluded(set.one, b) {
				fn(set.one)
			}
		default:
			for m := range set.many {
				if !s.excluded(m, b) {
					fn(m)
				}
			}
		}
		return
	}
	for _, r := range b.Rooms {
		set := s.rooms[r]
		if set == nil {
			continue
		}
		if set.many == nil {
			s.reachOnce(set.one, b, fn)
			continue
		}
		for m := range set.many {
			s.reachOnce(m, b, fn)
		}
	}
	clear(s.seen)
}

// reachOnce calls fn for m unless it is excluded or already had b (multi-room broadcasts).
func (s *Shard) reachOnce(m Member, b *Broadcast, fn func(Member)) {
	if _, dup := s.seen[m]; dup || s.excluded(m, b) {
		return
	}
	s.seen[m] = struct{}{}
	fn(m)
}

// send queues o; once the shard has stopped it reports false and o is dropped.
func (s *Shard) send(o op) bool {
	select {
	case <-s.quit: // checked first: a select with both ready picks at random
		return false
	default:
	}
	select {
	case s.ops <- o:
		return true
	case <-s.quit:
		return false
	}
}

// Join adds m to rooms (m must belong to this shard).
func (s *Shard) Join(m Member, rooms ...string) { s.send(op{kind: opJoin, member: m, rooms: rooms}) }

// Leave removes m from rooms.
func (s *Shard) Leave(m Member, rooms ...string) { s.send(op{kind: opLeave, member: m, rooms: rooms}) }

// LeaveAll removes m from every room.
func (s *Shard) LeaveAll(m Member) { s.send(op{kind: opLeaveAll, member: m}) }

// Rooms lists m's rooms in the order it joined them.
func (s *Shard) Rooms(m Member) []string {
	reply := make(chan []string, 1)
	if !s.send(op{kind: opRooms, member: m, reply: reply}) {
		return nil
	}
	select {
	case r := <-reply:
		return r
	case <-s.done:
		return nil
	}
}

// RoomsLater is Rooms without waiting for them: they come on the channel, as they are
// after everything sent before (safe to call from the shard's own goroutine).
func (s *Shard) RoomsLater(m Member) <-chan []string {
	reply := make(chan []string, 1)
	if !s.send(op{kind: opRooms, member: m, reply: reply}) {
		reply <- nil
	}
	return reply
}

// Do runs fn on the shard's goroutine, after everything sent before it.
func (s *Shard) Do(fn func()) { s.send(op{kind: opFunc, fn: fn}) }

// Group is the set of shards of one server.
type Group struct {
	shards   []*Shard
	seed     maphash.Seed
	close    sync.Once
	observed bool // broadcasts are stamped for ObserveQueueWait
}

// New starts n shards (at least one), each with an operation queue of queue entries.
func New(n, queue int) *Group {
	if n < 1 {
		n = 1
	}
	if queue < 1 {
		queue = 1024
	}
	g := &Group{shards: make([]*Shard, n), seed: maphash.MakeSeed()}
	for i := range g.shards {
		g.shards[i] = newShard(queue)
	}
	return g
}

// Len is the number of shards.
func (g *Group) Len() int { return len(g.shards) }

// For returns the shard that owns the member with this id.
func (g *Group) For(id string) *Shard {
	return g.shards[maphash.String(g.seed, id)%uint64(len(g.shards))]
}

// ObserveQueueWait makes every shard report how long each broadcast waited in its queue
// before the shard took it: a shard that cannot keep up shows here first. Call it before
// the first broadcast.
func (g *Group) ObserveQueueWait(fn func(time.Duration)) {
	g.observed = true
	for _, s := range g.shards {
		s.queueWait = fn
	}
}

// Broadcast hands b to every shard.
func (g *Group) Broadcast(b *Broadcast) {
	b.pending.Store(int32(len(g.shards)))
	if g.observed {
		b.queued = time.Now()
	}
	for _, s := range g.shards {
		if !s.send(op{kind: opBroadcast, bc: b}) && b.pending.Add(-1) == 0 && b.Done != nil {
			b.Done()
		}
	}
}

// Count is the number of memberships in rooms over all shards (a member of two of the
// rooms counts twice).
func (g *Group) Count(rooms ...string) int {
	return g.sum(func(s *Shard) int {
		n := 0
		for _, r := range rooms {
			if set := s.rooms[r]; set != nil {
				n += set.len()
			}
		}
		return n
	})
}

// Rooms is the number of rooms with at least one member, over all shards (a room whose
// members sit on two shards counts twice).
func (g *Group) Rooms() int { return g.sum(func(s *Shard) int { return len(s.rooms) }) }

// sum runs f on every shard's goroutine and adds up the results; a stopped shard adds 0.
func (g *Group) sum(f func(*Shard) int) int {
	total := 0
	g.onEach(func(s *Shard) { total += f(s) })
	return total
}

// onEach runs fn on every shard's goroutine, one shard after the other, and returns once
// the last has run it; a stopped shard is left out.
func (g *Group) onEach(fn func(*Shard)) {
	for _, s := range g.shards {
		ran := make(chan struct{})
		if !s.send(op{kind: opFunc, fn: func() { fn(s); close(ran) }}) {
			continue
		}
		select {
		case <-ran:
		case <-s.done:
		}
	}
}

// Close stops every shard; what is still queued is dropped.
func (g *Group) Close() {
	g.close.Do(func() {
		for _, s := range g.shards {
			close(s.quit)
		}
		for _, s := range g.shards {
			<-s.done
		}
	})
}

// All returns the shards, for callers that address each one.
func (g *Group) All() []*Shard { return g.shards }

// RoomSizes counts the members of the rooms whose keys keep accepts, over every shard.
func (g *Group) RoomSizes(keep func(key string) bool) map[string]int {
	sizes := make(map[string]int)
	g.onEach(func(s *Shard) {
		for k, r := range s.rooms {
			if keep(k) {
				sizes[k] += r.len()
			}
		}
	})
	return sizes
}

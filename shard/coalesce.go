package shard

import "time"

// When broadcasts queue up behind a busy shard, a member of a room several of them share
// gets them in one call (BatchMember), which a socket turns into one write: the cost per
// delivery falls as the queue grows, so a backlog drains instead of lasting. A shard that
// keeps up sees one broadcast at a time and delivers it as it comes.

// BatchMember is a Member that takes several messages at once, in order.
type BatchMember interface {
	Member
	DeliverBatch(msgs []any)
}

// maxCoalesce bounds the broadcasts delivered together, and so how long the first of them
// waits for the others' members to be gathered. Messages share a write only when their
// rooms recur within a batch: with 100 busy rooms, a batch of 64 gave most members one
// message anyway, and a backlog at 100,000 deliveries/s could last a whole run.
const maxCoalesce = 1024

// maxGathered bounds the messages gathered before the members get them (a var for tests):
// 1,024 broadcasts to a room of 10,000 would otherwise hold ten million at once.
var maxGathered = 1 << 16

// A member's message list longer than this is let go after use, not kept for the next
// batch.
const keptMsgsCap = 64

// coalescer gathers the messages of a run of broadcasts by member.
type coalescer struct {
	bcs      []*Broadcast
	index    map[Member]int
	members  []memberMsgs // reused; the first len(index) are in use
	gathered int          // messages in members
}

type memberMsgs struct {
	m    Member
	msgs []any
}

// broadcasts delivers b and the broadcasts queued right behind it. It returns the op that
// ended the run, if it took one from the queue.
func (s *Shard) broadcasts(b *Broadcast) (next op, took bool) {
	c := &s.batch
	c.bcs = append(c.bcs[:0], b)
gather:
	for len(c.bcs) < maxCoalesce {
		select {
		case o := <-s.ops:
			if o.kind != opBroadcast {
				next, took = o, true
				break gather
			}
			c.bcs = append(c.bcs, o.bc)
		default:
			break gather
		}
	}
	if s.queueWait != nil {
		now := time.Now()
		for _, bc := range c.bcs {
			s.queueWait(now.Sub(bc.queued))
		}
	}
	if len(c.bcs) == 1 {
		s.reach(b, func(m Member) { m.Deliver(b.Msg) })
	} else {
		s.deliverTogether(c)
	}
	for i, bc := range c.bcs {
		if bc.pending.Add(-1) == 0 && bc.Done != nil {
			bc.Done()
		}
		c.bcs[i] = nil
	}
	return next, took
}

// deliverTogether gives each member the messages of c's broadcasts it is reached by, in
// one call when it takes batches (several, in order, past maxGathered).
func (s *Shard) deliverTogether(c *coalescer) {
	if c.index == nil {
		c.index = make(map[Member]int)
	}
	for _, b := range c.bcs {
		s.reach(b, func(m Member) { c.add(m, b.Msg) })
		if c.gathered >= maxGathered {
			c.flush()
		}
	}
	c.flush()
}

// flush hands every member its gathered messages.
func (c *coalescer) flush() {
	for i := range len(c.index) {
		mm := &c.members[i]
		bm, batches := mm.m.(BatchMember)
		switch {
		case len(mm.msgs) > 1 && batches:
			bm.DeliverBatch(mm.msgs)
		default:
			for _, msg := range mm.msgs {
				mm.m.Deliver(msg)
			}
		}
		clear(mm.msgs) // hold no messages or members until the next batch
		mm.m, mm.msgs = nil, mm.msgs[:0]
		if cap(mm.msgs) > keptMsgsCap {
			mm.msgs = nil
		}
	}
	clear(c.index)
	c.gathered = 0
}

func (c *coalescer) add(m Member, msg any) {
	i, ok := c.index[m]
	if !ok {
		i = len(c.index)
		c.index[m] = i
		if i == len(c.members) {
			c.members = append(c.members, memberMsgs{})
		}
		c.members[i].m = m
	}
	c.members[i].msgs = append(c.members[i].msgs, msg)
	c.gathered++
}

package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"edgeio/codec"
)

// probeTimeout is how long a probe waits for its receipts before it is closed as is.
const probeTimeout = 5 * time.Second

// prober measures one kind of probe (typing or presence). A probe is keyed by the probing
// user; each other member's matching event is one latency sample. A user is not probed
// again while a probe of theirs is open, so a receipt always belongs to the open probe.
type prober struct {
	r   *run
	lat latency

	mu     sync.Mutex
	active map[int]*probe
	// closed probes
	sent, expected, received int64
}

type probe struct {
	start  int64  // ns since the run's base
	expect int64  // other live members of the room when it started
	status string // presence: the status announced; typing: ""
	got    atomic.Int64
}

func newProber(r *run) *prober { return &prober{r: r, active: make(map[int]*probe)} }

// begin opens a probe for user; false when one is open already.
func (p *prober) begin(user int, pr *probe) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.active[user] != nil {
		return false
	}
	p.active[user] = pr
	return true
}

func (p *prober) busy(user int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active[user] != nil
}

// seen takes an event about user received on c.
func (p *prober) seen(c *conn, user int, status string) {
	if c.idx == user {
		return // the Node peer also tells the prober itself
	}
	p.mu.Lock()
	pr := p.active[user]
	p.mu.Unlock()
	if pr == nil || pr.status != status {
		return
	}
	pr.got.Add(1)
	p.lat.record(c.shard, c.r.now()-pr.start)
}

// expire closes probes older than probeTimeout, or every open probe with all.
func (p *prober) expire(now int64, all bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for u, pr := range p.active {
		if all || now-pr.start > int64(probeTimeout) {
			p.sent++
			p.expected += pr.expect
			p.received += pr.got.Load()
			delete(p.active, u)
		}
	}
}

// outstanding is how many receipts open probes still wait for.
func (p *prober) outstanding() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, pr := range p.active {
		n += max(pr.expect-pr.got.Load(), 0)
	}
	return n
}

// counts reads the closed probes.
func (p *prober) counts() ProbeCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ProbeCounts{Sent: p.sent, Expected: p.expected, Received: p.received,
		Missing: max(p.expected-p.received, 0)}
}

// probeLoop fires probes at rate from start until end: fire gets a live member of a room
// with at least one other live member, with no open probe of this kind.
func (r *run) probeLoop(ctx context.Context, p *prober, rate float64, start, end time.Time, fire func(c *conn, expect int64)) {
	pc := newPacer(start, rate)
	for k := int64(0); pc.due(k).Before(end); k++ {
		if !pc.wait(ctx, k) {
			return
		}
		p.expire(r.now(), false)
		if c, expect := r.pickProbe(p); c != nil {
			fire(c, expect)
		}
	}
}

// pickProbe picks a random member of a random room for a probe; nil when none fits.
func (r *run) pickProbe(p *prober) (*conn, int64) {
	for range 16 {
		rm := r.rooms[rand.IntN(len(r.rooms))]
		live := int64(rm.live.Load())
		if live < 2 || len(rm.members) == 0 {
			continue
		}
		c := rm.members[rand.IntN(len(rm.members))]
		if c.alive() && !p.busy(c.idx) {
			return c, live - 1
		}
	}
	return nil, 0
}

// typingProbe: typing-start, then typing-stop a moment later (so that the next start is
// announced again, and a big room, which tells its typists once a tick, sees it typing);
// the room's other members' user-typing {isTyping: true}, or room-typing listing it, are
// the samples.
func (r *run) typingProbe(c *conn, expect int64) {
	pr := &probe{start: r.now(), expect: expect}
	if !r.typing.begin(c.idx, pr) {
		return
	}
	room := r.rooms[c.room].name
	if c.emit(codec.NoID, "typing-start", room) != nil {
		r.errors.add("typing write error", 1)
		return
	}
	time.AfterFunc(typingHeld, func() {
		if c.emit(codec.NoID, "typing-stop", room) != nil {
			r.errors.add("typing write error", 1)
		}
	})
}

// typingHeld is how long a typing probe types: past a big room's tick (1 s by default).
const typingHeld = 1500 * time.Millisecond

// presenceProbe: update-presence toggling away and online; the room's other members'
// presence-update with that status are the samples.
func (r *run) presenceProbe(c *conn, expect int64) {
	next := "away"
	if c.status == "away" {
		next = "online"
	}
	pr := &probe{start: r.now(), expect: expect, status: next}
	if !r.presence.begin(c.idx, pr) {
		return
	}
	c.status = next
	if c.emitCtrl(ctrlPresence, "update-presence", next) != nil {
		r.errors.add("update-presence write error", 1)
	}
}

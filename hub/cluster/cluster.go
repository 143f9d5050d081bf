package cluster

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"edgeio/codec"
	"edgeio/server"

	"github.com/redis/go-redis/v9"
)

// Cluster is one node's link to the others.
type Cluster struct {
	opts Options
	io   *server.Server
	subs subscriber

	queue chan outgoing // publishes waiting for Redis

	pattern string // the PatternRooms channels' glob ("": none)
	echo    []byte // how this node's own broadcasts begin: [uid, ...

	// Subscriptions, by channel; the key "" stands for the pattern.
	subMu     sync.Mutex
	refs      map[string]int             // channel → members here; subscribed while > 0
	dirty     map[string]bool            // subscriptions that may have to change
	confirmed map[string]bool            // subscriptions Redis confirmed
	waiters   map[string][]chan struct{} // joins waiting for a subscription's confirmation
	subWake   chan struct{}              // dirty is not empty

	subscribed map[string]bool // what subscribeLoop last did, its own

	mu    sync.Mutex
	nodes map[string]time.Time // other nodes, when last heard

	reqs requests // recovery requests waiting for answers

	ready      atomic.Bool
	helloHeard atomic.Bool // our last hello came back to us: we are subscribed
	answering  atomic.Bool // a heartbeat answering a hello is on its way (forward.go)
	instance   string      // tells this process from another started with the same node id
	dupWarned  atomic.Bool
	stats      Stats
	stop       chan struct{}
	stopped    sync.WaitGroup
	closeOnce  sync.Once
}

// Stats counts what crosses Redis, for metrics and benchmarks.
type Stats struct {
	Published atomic.Uint64 // broadcasts sent to Redis
	Received  atomic.Uint64 // broadcasts received from Redis (this node's subscriptions)
	Dropped   atomic.Uint64 // broadcasts not sent: Redis down and the queue full
	Errors    atomic.Uint64 // failed Redis calls
}

type outgoing struct {
	channel string
	payload []byte
}

// New prepares a cluster link for io; Start connects it.
func New(io *server.Server, opts Options) *Cluster {
	opts.fill()
	c := &Cluster{
		opts:       opts,
		io:         io,
		queue:      make(chan outgoing, opts.QueueSize),
		refs:       make(map[string]int),
		dirty:      make(map[string]bool),
		confirmed:  make(map[string]bool),
		waiters:    make(map[string][]chan struct{}),
		subWake:    make(chan struct{}, 1),
		subscribed: make(map[string]bool),
		nodes:      make(map[string]time.Time),
		stop:       make(chan struct{}),
		instance:   strconv.FormatInt(rand.Int64(), 36),
	}
	io.Engine().Forward(opts.Advertise) // before any session opens: their ids name this node (forward.go)
	if opts.Sharded {
		c.subs = newShardedSubscriber(opts.Client.(*redis.ClusterClient))
	} else {
		c.subs = newSubscriber(opts.Client)
	}
	c.pattern = c.roomPattern()
	c.echo, _ = codec.EncodeMsgpackValue(nil, []any{c.opts.NodeID, nil, nil})
	c.echo = c.echo[:len(c.echo)-2] // the array header and the uid
	return c
}

// NodeID is this node's id.
func (c *Cluster) NodeID() string { return c.opts.NodeID }

// Stats returns the cluster's counters.
func (c *Cluster) Stats() *Stats { return &c.stats }

// Ready reports whether Redis answered the last heartbeat.
func (c *Cluster) Ready() bool { return c.ready.Load() }

// Start subscribes to the main namespace and control channels, and starts the publisher,
// the subscription keeper, the receiver and the heartbeat. It returns at once: a Redis that
// is not there yet is retried in the background.
func (c *Cluster) Start() {
	nsp := c.Subscribe("/", "")
	control := c.changeChannel(c.controlChannel(), 1)
	pattern := noWait
	if c.pattern != "" {
		pattern = c.changeChannel(patternSub, 1)
	}
	c.stopped.Add(4)
	go c.publishLoop()
	go c.subscribeLoop()
	go c.receiveLoop()
	// hello only once listening: the other nodes answer it with their state at once
	nsp()
	control()
	pattern()
	go c.heartbeatLoop()
}

// Close stops, sends what is still queued, and says goodbye to the other nodes: the bye is
// the last they hear of this node (anything after it would bring the node back to life for
// them until the node timeout).
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		c.stopped.Wait()
		var batch []outgoing
		for len(c.queue) > 0 {
			batch = append(batch, <-c.queue)
		}
		if len(batch) > 0 {
			c.publishBatch(batch) // one try: c.stop is closed
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.publishNow(ctx, c.controlChannel(), c.control(kindBye, nil))
		cancel()
		c.subs.close()
	})
}

// Subscribe counts a member of room in nsp ("" for the namespace itself) in; the first
// subscribes this node to the room's channel. It never waits for Redis (callers hold the
// hub's lock); the returned wait blocks until Redis confirmed the subscription (two
// seconds at most), so that a join is acknowledged only once the room's traffic reaches
// this node.
func (c *Cluster) Subscribe(nsp, room string) (wait func()) {
	return c.changeChannel(c.channel(nsp, room), 1)
}

// Unsubscribe counts a member out; the last one unsubscribes.
func (c *Cluster) Unsubscribe(nsp, room string) { c.changeChannel(c.channel(nsp, room), -1) }

func (c *Cluster) channel(nsp, room string) string {
	if room == "" {
		return c.nspChannel(nsp)
	}
	return c.roomChannel(nsp, room)
}

// patternSub is the pattern's key in the subscription maps (no channel is "").
const patternSub = ""

func noWait() {}

// changeChannel counts a member in or out of ch and, when ch is wanted or unwanted anew,
// wakes subscribeLoop. A channel of the room pattern is counted (for receiveLoop), but its
// subscription is the pattern's, taken once at Start.
func (c *Cluster) changeChannel(ch string, delta int) (wait func()) {
	wait = noWait
	c.subMu.Lock()
	before := c.refs[ch]
	after := max(before+delta, 0)
	if after == 0 {
		delete(c.refs, ch)
	} else {
		c.refs[ch] = after
	}
	sub := ch
	if ch != patternSub && c.patterned(ch) {
		sub = patternSub
	} else if (before > 0) != (after > 0) {
		c.dirty[ch] = true
	}
	if delta > 0 && !c.confirmed[sub] {
		done := make(chan struct{})
		c.waiters[sub] = append(c.waiters[sub], done)
		wait = func() { c.await(done) }
	}
	c.subMu.Unlock()
	select {
	case c.subWake <- struct{}{}:
	default:
	}
	return wait
}

func (c *Cluster) await(done chan struct{}) {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-c.stop:
	}
}

// subscribeLoop brings Redis's subscriptions in line with the counts, retrying with
// backoff while Redis is away; changes made meanwhile merge (a room joined and left during
// an outage costs nothing).
func (c *Cluster) subscribeLoop() {
	defer c.stopped.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.subWake:
		}
		for attempt := 0; !c.syncSubscriptions(); attempt++ {
			c.stats.Errors.Add(1)
			if !c.sleep(backoff(attempt)) {
				return
			}
		}
	}
}

// syncSubscriptions applies the dirty subscriptions, the channels to subscribe in one
// command and those to unsubscribe in another (on Redis Cluster a command per channel: a
// sharded command's channels share one slot); it reports false if one failed (the failed
// stay dirty).
func (c *Cluster) syncSubscriptions() bool {
	c.subMu.Lock()
	var on, off []string
	for ch := range c.dirty {
		want := c.refs[ch] > 0
		switch {
		case want == c.subscribed[ch]:
		case want:
			on = append(on, ch)
		default:
			off = append(off, ch)
		}
	}
	clear(c.dirty)
	c.subMu.Unlock()
	var failed []string
	apply := func(chs []string, want bool) {
		if len(chs) == 0 {
			return
		}
		if len(failed) > 0 { // Redis is away: try again later, not now
			failed = append(failed, chs...)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		switch {
		case len(chs) == 1 && chs[0] == patternSub:
			err = c.subs.psubscribe(ctx, c.pattern) // the pattern is never given up
		case want:
			err = c.subs.subscribe(ctx, chs...)
		default:
			err = c.subs.unsubscribe(ctx, chs...)
		}
		for _, ch := range chs {
			if err != nil {
				delete(c.subscribed, ch) // unknown now: redo what is wanted
				failed = append(failed, ch)
				continue
			}
			c.subscribed[ch] = want
			c.confirm(ch, want)
		}
	}
	if i := slices.Index(on, patternSub); i >= 0 {
		on = slices.Delete(on, i, i+1)
		apply([]string{patternSub}, true)
	}
	apply(on, true)
	apply(off, false)
	if len(failed) == 0 {
		return true
	}
	c.subMu.Lock()
	for _, ch := range failed {
		c.dirty[ch] = true
	}
	c.subMu.Unlock()
	return false
}

// confirm records a subscription Redis answered and releases the joins waiting for it.
func (c *Cluster) confirm(ch string, subscribed bool) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	if !subscribed {
		delete(c.confirmed, ch)
		return
	}
	c.confirmed[ch] = true
	for _, w := range c.waiters[ch] {
		close(w)
	}
	delete(c.waiters, ch)
}

// Publish sends a broadcast just delivered here to the other nodes (server.Adapter). The
// message is encoded once, in the Redis adapter's format.
func (c *Cluster) Publish(nsp string, rooms, except []string, data []any, volatile bool, id string) {
	flags := map[string]any{}
	if volatile {
		flags["volatile"] = true
	}
	opts := map[string]any{"rooms": anyList(rooms), "except": anyList(except), "flags": flags}
	if id != "" {
		opts["id"] = id // an edgeio addition, which Socket.IO's adapters ignore
	}
	msg := []any{
		c.opts.NodeID,
		map[string]any{"type": 2.0, "data": data, "nsp": nsp},
		opts,
	}
	payload, err := codec.EncodeMsgpackValue(nil, msg)
	if err != nil {
		c.opts.Logf("edgeio: cluster: cannot encode a broadcast: %v", err)
		return
	}
	ch := c.nspChannel(nsp)
	if len(rooms) == 1 {
		ch = c.roomChannel(nsp, rooms[0])
	}
	select {
	case c.queue <- outgoing{channel: ch, payload: payload}:
	default:
		c.stats.Dropped.Add(1)
	}
}

func anyList(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

// publishLoop sends queued broadcasts, as many as are waiting in one pipeline.
func (c *Cluster) publishLoop() {
	defer c.stopped.Done()
	batch := make([]outgoing, 0, 256)
	for {
		select {
		case <-c.stop:
			return
		case first := <-c.queue:
			batch = append(batch[:0], first)
		drain:
			for len(batch) < cap(batch) {
				select {
				case o := <-c.queue:
					batch = append(batch, o)
				default:
					break drain
				}
			}
			c.publishBatch(batch)
		}
	}
}

func (c *Cluster) publishBatch(batch []outgoing) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.opts.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, o := range batch {
				if c.opts.Sharded {
					p.SPublish(ctx, o.channel, o.payload)
				} else {
					p.Publish(ctx, o.channel, o.payload)
				}
			}
			return nil
		})
		cancel()
		if err == nil {
			c.stats.Published.Add(uint64(len(batch)))
			return
		}
		c.stats.Errors.Add(1)
		// While Redis is away new broadcasts keep queuing (and are dropped once the queue
		// is full); this batch waits for Redis a few tries, then is given up.
		if attempt >= 3 || !c.sleep(backoff(attempt)) {
			c.stats.Dropped.Add(uint64(len(batch)))
			return
		}
	}
}

func (c *Cluster) publishNow(ctx context.Context, channel string, payload []byte) error {
	if c.opts.Sharded {
		return c.opts.Client.SPublish(ctx, channel, payload).Err()
	}
	return c.opts.Client.Publish(ctx, channel, payload).Err()
}

// backoff is a capped exponential wait with jitter: 50 ms, 100 ms, ... up to 2 s.
func backoff(attempt int) time.Duration {
	d := 50 * time.Millisecond << min(attempt, 6)
	d = min(d, 2*time.Second)
	return d/2 + time.Duration(jitter(int64(d/2)))
}

// sleep waits d unless the cluster stops first; it reports whether to go on.
func (c *Cluster) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

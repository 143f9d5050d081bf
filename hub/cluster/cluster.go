package cluster

import (
	"context"
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
	subOp chan subOp    // subscription changes, in order
	refs  map[string]int

	mu    sync.Mutex
	nodes map[string]time.Time // other nodes, when last heard

	ready     atomic.Bool
	stats     Stats
	stop      chan struct{}
	stopped   sync.WaitGroup
	closeOnce sync.Once
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

type subOp struct {
	channel   string
	subscribe bool
}

// New prepares a cluster link for io; Start connects it.
func New(io *server.Server, opts Options) *Cluster {
	opts.fill()
	c := &Cluster{
		opts:  opts,
		io:    io,
		queue: make(chan outgoing, opts.QueueSize),
		subOp: make(chan subOp, 4096),
		refs:  make(map[string]int),
		nodes: make(map[string]time.Time),
		stop:  make(chan struct{}),
	}
	if opts.Sharded {
		c.subs = newShardedSubscriber(opts.Client.(*redis.ClusterClient))
	} else {
		c.subs = newSubscriber(opts.Client)
	}
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
	c.Subscribe("/", "")
	c.subOp <- subOp{channel: c.controlChannel(), subscribe: true}
	c.stopped.Add(4)
	go c.publishLoop()
	go c.subscribeLoop()
	go c.receiveLoop()
	go c.heartbeatLoop()
}

// Close says goodbye to the other nodes and stops.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.publishNow(ctx, c.controlChannel(), c.control(kindBye, nil))
		cancel()
		close(c.stop)
		c.subs.close()
		c.stopped.Wait()
	})
}

// Subscribe notes that this node holds members of room in nsp ("" for the namespace
// itself); the first note subscribes to its channel.
func (c *Cluster) Subscribe(nsp, room string) { c.changeRefs(nsp, room, 1) }

// Unsubscribe notes that a member left; the last one unsubscribes.
func (c *Cluster) Unsubscribe(nsp, room string) { c.changeRefs(nsp, room, -1) }

func (c *Cluster) changeRefs(nsp, room string, delta int) {
	ch := c.nspChannel(nsp)
	if room != "" {
		ch = c.roomChannel(nsp, room)
	}
	select {
	case c.subOp <- subOp{channel: ch, subscribe: delta > 0}:
	case <-c.stop:
	}
}

// subscribeLoop applies subscription changes in order, keeping a count per channel.
func (c *Cluster) subscribeLoop() {
	defer c.stopped.Done()
	for {
		select {
		case <-c.stop:
			return
		case op := <-c.subOp:
			c.applySubOp(op)
		}
	}
}

func (c *Cluster) applySubOp(op subOp) {
	if op.subscribe {
		c.refs[op.channel]++
		if c.refs[op.channel] > 1 {
			return
		}
	} else {
		if c.refs[op.channel] == 0 {
			return
		}
		c.refs[op.channel]--
		if c.refs[op.channel] > 0 {
			return
		}
		delete(c.refs, op.channel)
	}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var err error
		if op.subscribe {
			err = c.subs.subscribe(ctx, op.channel)
		} else {
			err = c.subs.unsubscribe(ctx, op.channel)
		}
		cancel()
		if err == nil {
			return
		}
		c.stats.Errors.Add(1)
		if !c.sleep(backoff(attempt)) {
			return
		}
	}
}

// Publish sends a broadcast just delivered here to the other nodes (server.Adapter). The
// message is encoded once, in the Redis adapter's format.
func (c *Cluster) Publish(nsp string, rooms, except []string, data []any, volatile bool) {
	flags := map[string]any{}
	if volatile {
		flags["volatile"] = true
	}
	msg := []any{
		c.opts.NodeID,
		map[string]any{"type": 2.0, "data": data, "nsp": nsp},
		map[string]any{"rooms": strings(rooms), "except": strings(except), "flags": flags},
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

func strings(list []string) []any {
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

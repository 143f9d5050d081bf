package cluster

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// message is one pub/sub message, whichever connection it came on.
type message struct {
	channel string
	payload []byte
}

// subscriber keeps the node's channel subscriptions; go-redis reconnects and resubscribes a
// pub/sub connection by itself when Redis comes back.
type subscriber interface {
	subscribe(ctx context.Context, channel string) error
	unsubscribe(ctx context.Context, channel string) error
	messages() <-chan message
	close()
}

// plainSubscriber uses one SUBSCRIBE connection (standalone Redis).
type plainSubscriber struct {
	ps   *redis.PubSub
	out  chan message
	done chan struct{}
}

func newSubscriber(client redis.UniversalClient) *plainSubscriber {
	s := &plainSubscriber{ps: client.Subscribe(context.Background()), out: make(chan message, 1024), done: make(chan struct{})}
	go forward(s.ps, s.out, s.done)
	return s
}

// forward passes ps's messages on until ps closes, or until done: after Close nobody
// reads out, and a forwarder blocked on a full out would otherwise stay forever.
func forward(ps *redis.PubSub, out chan<- message, done <-chan struct{}) {
	for m := range ps.Channel(redis.WithChannelSize(1024)) {
		select {
		case out <- message{channel: m.Channel, payload: []byte(m.Payload)}:
		case <-done:
			return
		}
	}
}

func (s *plainSubscriber) subscribe(ctx context.Context, ch string) error {
	return s.ps.Subscribe(ctx, ch)
}

func (s *plainSubscriber) unsubscribe(ctx context.Context, ch string) error {
	return s.ps.Unsubscribe(ctx, ch)
}

func (s *plainSubscriber) messages() <-chan message { return s.out }
func (s *plainSubscriber) close() {
	close(s.done)
	_ = s.ps.Close()
}

// shardedSubscriber uses SSUBSCRIBE, one connection per master: a sharded channel can only
// be subscribed on the shard that owns its slot.
type shardedSubscriber struct {
	client *redis.ClusterClient
	out    chan message
	done   chan struct{}

	mu     sync.Mutex
	byAddr map[string]*redis.PubSub
	owner  map[string]*redis.PubSub // channel → connection it is subscribed on
}

func newShardedSubscriber(client *redis.ClusterClient) *shardedSubscriber {
	return &shardedSubscriber{client: client, out: make(chan message, 1024), done: make(chan struct{}),
		byAddr: make(map[string]*redis.PubSub), owner: make(map[string]*redis.PubSub)}
}

func (s *shardedSubscriber) subscribe(ctx context.Context, ch string) error {
	master, err := s.client.MasterForKey(ctx, ch)
	if err != nil {
		return err
	}
	addr := master.Options().Addr
	s.mu.Lock()
	ps := s.byAddr[addr]
	if ps == nil {
		ps = master.SSubscribe(ctx)
		s.byAddr[addr] = ps
		go forward(ps, s.out, s.done)
	}
	s.owner[ch] = ps
	s.mu.Unlock()
	return ps.SSubscribe(ctx, ch)
}

func (s *shardedSubscriber) unsubscribe(ctx context.Context, ch string) error {
	s.mu.Lock()
	ps := s.owner[ch]
	delete(s.owner, ch)
	s.mu.Unlock()
	if ps == nil {
		return nil
	}
	return ps.SUnsubscribe(ctx, ch)
}

func (s *shardedSubscriber) messages() <-chan message { return s.out }

func (s *shardedSubscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.done)
	for _, ps := range s.byAddr {
		_ = ps.Close()
	}
}

package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

var errSubscriberClosed = errors.New("cluster: subscriber closed")

// message is one pub/sub message, whichever connection it came on.
type message struct {
	channel string
	payload []byte
}

// subscriber keeps the node's channel subscriptions; go-redis reconnects and resubscribes a
// pub/sub connection by itself when Redis comes back.
type subscriber interface {
	subscribe(ctx context.Context, channels ...string) error
	unsubscribe(ctx context.Context, channels ...string) error
	psubscribe(ctx context.Context, pattern string) error // standalone Redis only
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

func (s *plainSubscriber) subscribe(ctx context.Context, chs ...string) error {
	return s.ps.Subscribe(ctx, chs...)
}

func (s *plainSubscriber) unsubscribe(ctx context.Context, chs ...string) error {
	return s.ps.Unsubscribe(ctx, chs...)
}

func (s *plainSubscriber) psubscribe(ctx context.Context, pattern string) error {
	return s.ps.PSubscribe(ctx, pattern)
}

func (s *plainSubscriber) messages() <-chan message { return s.out }
func (s *plainSubscriber) close() {
	close(s.done)
	_ = s.ps.Close()
}

// shardedSubscriber uses SSUBSCRIBE, one connection per master: a sharded channel can only
// be subscribed on the shard that owns its slot. It follows the slots: when resharding
// moves one to another master, Redis drops its subscribers with a SUNSUBSCRIBE of its own;
// when a master fails and its replica takes over, nothing is said (the connection just
// breaks). Either way the channel is subscribed again where the cluster's slot map now puts
// it: at once after a SUNSUBSCRIBE, and by a check of every channel each followEvery.
type shardedSubscriber struct {
	client *redis.ClusterClient
	out    chan message
	done   chan struct{}

	changing sync.Mutex // one subscription change at a time: the cluster's, or a move
	mu       sync.Mutex // the maps below
	byAddr   map[string]*redis.PubSub
	owner    map[string]*redis.PubSub // channel → connection it is subscribed on
	addrOf   map[*redis.PubSub]string
}

// followEvery is how often every channel is checked against the slot map (which is
// reloaded from the cluster each time).
const followEvery = time.Second

func newShardedSubscriber(client *redis.ClusterClient) *shardedSubscriber {
	s := &shardedSubscriber{client: client, out: make(chan message, 1024), done: make(chan struct{}),
		byAddr: make(map[string]*redis.PubSub), owner: make(map[string]*redis.PubSub),
		addrOf: make(map[*redis.PubSub]string)}
	go s.follow()
	return s
}

func (s *shardedSubscriber) subscribe(ctx context.Context, chs ...string) error {
	s.changing.Lock()
	defer s.changing.Unlock()
	for _, ch := range chs {
		if err := s.subscribeLocked(ctx, ch); err != nil {
			return err
		}
	}
	return nil
}

func (s *shardedSubscriber) psubscribe(context.Context, string) error {
	return errors.New("cluster: sharded pub/sub has no patterns")
}

func (s *shardedSubscriber) subscribeLocked(ctx context.Context, ch string) error {
	master, err := s.client.MasterForKey(ctx, ch)
	if err != nil {
		return err
	}
	addr := master.Options().Addr
	s.mu.Lock()
	select {
	case <-s.done: // closed (a move racing close): open nothing more
		s.mu.Unlock()
		return errSubscriberClosed
	default:
	}
	ps := s.byAddr[addr]
	if ps == nil {
		ps = master.SSubscribe(ctx)
		s.byAddr[addr] = ps
		s.addrOf[ps] = addr
		go s.forward(ps)
	}
	s.owner[ch] = ps
	s.mu.Unlock()
	return ps.SSubscribe(ctx, ch)
}

func (s *shardedSubscriber) unsubscribe(ctx context.Context, chs ...string) error {
	s.changing.Lock()
	defer s.changing.Unlock()
	for _, ch := range chs {
		s.mu.Lock()
		ps := s.owner[ch]
		delete(s.owner, ch)
		s.mu.Unlock()
		if ps == nil {
			continue
		}
		if err := ps.SUnsubscribe(ctx, ch); err != nil {
			return err
		}
	}
	return nil
}

// forward passes ps's messages on, as the plain subscriber's forward does, and watches
// for the subscriptions Redis drops.
func (s *shardedSubscriber) forward(ps *redis.PubSub) {
	for m := range ps.ChannelWithSubscriptions(redis.WithChannelSize(1024)) {
		switch m := m.(type) {
		case *redis.Message:
			select {
			case s.out <- message{channel: m.Channel, payload: []byte(m.Payload)}:
			case <-s.done:
				return
			}
		case *redis.Subscription:
			if m.Kind == "sunsubscribe" && s.owns(ps, m.Channel) {
				go s.resubscribe(ps, m.Channel) // not ours: the slot moved
			}
		}
	}
}

// owns reports whether ch is still wanted on ps (not unsubscribed nor moved since).
func (s *shardedSubscriber) owns(ps *redis.PubSub, ch string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner[ch] == ps
}

// resubscribe moves ch off old after Redis dropped it there, retrying with backoff until
// the slot map no longer puts it on old's master (the map reaches every node by gossip).
func (s *shardedSubscriber) resubscribe(old *redis.PubSub, ch string) {
	for wait := 20 * time.Millisecond; !s.moved(old, ch); wait = min(2*wait, 2*time.Second) {
		select {
		case <-s.done:
			return
		case <-time.After(wait):
		}
	}
}

// moved makes one attempt at moving ch off old; true when there is nothing left to do.
func (s *shardedSubscriber) moved(old *redis.PubSub, ch string) bool {
	s.changing.Lock()
	defer s.changing.Unlock()
	if !s.owns(old, ch) {
		return true // unsubscribed or moved meanwhile
	}
	ctx := context.Background()
	s.client.ReloadState(ctx)
	return s.moveLocked(ctx, ch, old)
}

// follow checks every channel against the slot map each followEvery, until close.
func (s *shardedSubscriber) follow() {
	tick := time.NewTicker(followEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			s.realign()
		}
	}
}

// realign moves the channels whose connection is not on the master the slot map names, then
// closes the connections left without channels (a failed master's would redial forever).
// The map is reloaded in the background: what it learns now, the next round acts on.
func (s *shardedSubscriber) realign() {
	s.changing.Lock()
	defer s.changing.Unlock()
	ctx := context.Background()
	s.client.ReloadState(ctx)
	s.mu.Lock()
	owners := make(map[string]*redis.PubSub, len(s.owner))
	for ch, ps := range s.owner {
		owners[ch] = ps
	}
	s.mu.Unlock()
	for ch, ps := range owners {
		s.moveLocked(ctx, ch, ps)
	}

	s.mu.Lock()
	used := make(map[*redis.PubSub]bool, len(s.byAddr))
	for _, ps := range s.owner {
		used[ps] = true
	}
	var unused []*redis.PubSub
	for addr, ps := range s.byAddr {
		if !used[ps] {
			delete(s.byAddr, addr)
			delete(s.addrOf, ps)
			unused = append(unused, ps)
		}
	}
	s.mu.Unlock()
	for _, ps := range unused {
		_ = ps.Close()
	}
}

// moveLocked subscribes ch on the master the slot map names for it, unless that is old's
// (then it reports false), and has old forget ch so that its reconnects do not subscribe
// it there again. Callers hold s.changing.
func (s *shardedSubscriber) moveLocked(ctx context.Context, ch string, old *redis.PubSub) bool {
	s.mu.Lock()
	oldAddr := s.addrOf[old]
	s.mu.Unlock()
	master, err := s.client.MasterForKey(ctx, ch)
	if err != nil || master.Options().Addr == oldAddr || s.subscribeLocked(ctx, ch) != nil {
		return false
	}
	// old's master may be gone: do not wait long on it (old forgets ch either way)
	ctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	_ = old.SUnsubscribe(ctx, ch)
	cancel()
	return true
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

package shard

import (
	"sync"
	"time"
)

// Batcher gathers values by key and hands each key's values to flush once per window, so
// that bursts (read receipts, say) go out as one event per key per window.
type Batcher[K comparable, V any] struct {
	flush func(K, []V)

	mu      sync.Mutex
	pending map[K][]V
	stop    chan struct{}
	done    chan struct{}
}

// NewBatcher starts a batcher whose tick runs every window.
func NewBatcher[K comparable, V any](window time.Duration, flush func(K, []V)) *Batcher[K, V] {
	b := &Batcher[K, V]{flush: flush, pending: make(map[K][]V), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop(window)
	return b
}

// Add queues values under key for the next flush.
func (b *Batcher[K, V]) Add(key K, values ...V) {
	b.mu.Lock()
	b.pending[key] = append(b.pending[key], values...)
	b.mu.Unlock()
}

func (b *Batcher[K, V]) loop(window time.Duration) {
	defer close(b.done)
	t := time.NewTicker(window)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.flushAll()
		case <-b.stop:
			b.flushAll()
			return
		}
	}
}

func (b *Batcher[K, V]) flushAll() {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	batch := b.pending
	b.pending = make(map[K][]V, len(batch))
	b.mu.Unlock()
	for k, vs := range batch {
		b.flush(k, vs)
	}
}

// Close flushes what is pending and stops the tick.
func (b *Batcher[K, V]) Close() {
	close(b.stop)
	<-b.done
}

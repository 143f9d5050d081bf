package shard

import (
	"sync"
	"time"
)

// Batcher gathers values by key and hands a key's values to flush one window after the
// first of them arrived, so that a burst (read receipts, say) goes out as one event.
type Batcher[K comparable, V any] struct {
	window time.Duration
	flush  func(K, []V)

	mu      sync.Mutex
	pending map[K][]V
	timers  map[K]*time.Timer
	closed  bool
}

// NewBatcher returns a batcher with the given window.
func NewBatcher[K comparable, V any](window time.Duration, flush func(K, []V)) *Batcher[K, V] {
	return &Batcher[K, V]{window: window, flush: flush, pending: make(map[K][]V), timers: make(map[K]*time.Timer)}
}

// Add queues values under key; the key's window opens with its first value.
func (b *Batcher[K, V]) Add(key K, values ...V) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.flush(key, values)
		return
	}
	b.pending[key] = append(b.pending[key], values...)
	if b.timers[key] == nil {
		b.timers[key] = time.AfterFunc(b.window, func() { b.flushKey(key) })
	}
	b.mu.Unlock()
}

func (b *Batcher[K, V]) flushKey(key K) {
	b.mu.Lock()
	vs := b.pending[key]
	delete(b.pending, key)
	delete(b.timers, key)
	b.mu.Unlock()
	if len(vs) > 0 {
		b.flush(key, vs)
	}
}

// Close flushes what is pending at once; later values are flushed as they come.
func (b *Batcher[K, V]) Close() {
	b.mu.Lock()
	b.closed = true
	keys := make([]K, 0, len(b.pending))
	for k, t := range b.timers {
		t.Stop()
		keys = append(keys, k)
	}
	b.mu.Unlock()
	for _, k := range keys {
		b.flushKey(k)
	}
}

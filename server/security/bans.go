package security

import (
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Bans counts failed authentications per address and bans an address that fails too often
// (SPEC.md: ten inside --auth-fail-window ban it for --auth-ban). Bans live in memory.
type Bans struct {
	threshold int
	window    time.Duration
	duration  time.Duration

	mu       sync.Mutex
	failures map[netip.Addr][]time.Time
	banned   map[netip.Addr]time.Time // until
}

// NewBans bans after threshold failures inside window, for duration; threshold <= 0 is off.
func NewBans(threshold int, window, duration time.Duration) *Bans {
	return &Bans{threshold: threshold, window: window, duration: duration,
		failures: make(map[netip.Addr][]time.Time), banned: make(map[netip.Addr]time.Time)}
}

// Fail records a failed authentication; when this failure bans a, it returns how long the
// ban lasts, else 0.
func (b *Bans) Fail(a netip.Addr) time.Duration {
	if b.threshold <= 0 || !a.IsValid() {
		return 0
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	recent := b.failures[a][:0]
	for _, t := range b.failures[a] {
		if now.Sub(t) < b.window {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	if len(recent) < b.threshold {
		b.failures[a] = recent
		return 0
	}
	delete(b.failures, a)
	b.banned[a] = now.Add(b.duration)
	return b.duration
}

// Ban bans a for d from now (an operator's ban), replacing any ban a had.
func (b *Bans) Ban(a netip.Addr, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.banned[a] = time.Now().Add(d)
}

// Banned reports whether a is banned now.
func (b *Bans) Banned(a netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.banned[a]
	if ok && time.Now().After(until) {
		delete(b.banned, a)
		return false
	}
	return ok
}

// Ban is one banned address and when its ban ends.
type Ban struct {
	Address string    `json:"address"`
	Until   time.Time `json:"until"`
}

// List returns the bans in force, by address.
func (b *Bans) List() []Ban {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Ban, 0, len(b.banned))
	for a, until := range b.banned {
		if now.After(until) {
			delete(b.banned, a)
			continue
		}
		out = append(out, Ban{Address: a.String(), Until: until.UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// Lift ends a's ban and forgets its failures; it reports whether a was banned.
func (b *Bans) Lift(a netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.banned[a]
	delete(b.banned, a)
	delete(b.failures, a)
	return ok
}

package security

import (
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Bans counts failed authentications per client and bans a client that fails too often
// (threshold failures within window of the first ban it for duration). Bans live in memory.
//
// A client is an IPv4 address or an IPv6 /64 (BanKey): one host usually holds a whole /64,
// and counting its addresses one by one would let it fail forever by rotating them. The
// failure counters are bounded: one is forgotten once its window is over, and at most
// maxTracked are kept; when that many are counting, a new client's first failure takes
// the place of an arbitrary one (memory stays bounded; a flood of clients can at worst
// restart another's count, which it could earn from its own addresses anyway).
type Bans struct {
	threshold  int
	window     time.Duration
	duration   time.Duration
	maxTracked int

	mu       sync.Mutex
	failures map[netip.Prefix]failures
	banned   map[netip.Prefix]time.Time // until
	swept    time.Time
}

// failures is one client's count: n failures since the first, at since.
type failures struct {
	since time.Time
	n     int
}

// NewBans bans after threshold failures within window, for duration, counting at most
// maxTracked clients at a time (<= 0: 100,000); threshold <= 0 is off.
func NewBans(threshold int, window, duration time.Duration, maxTracked int) *Bans {
	if maxTracked <= 0 {
		maxTracked = 100_000
	}
	return &Bans{threshold: threshold, window: window, duration: duration, maxTracked: maxTracked,
		failures: make(map[netip.Prefix]failures), banned: make(map[netip.Prefix]time.Time)}
}

// BanKey is the client an address belongs to: the address itself for IPv4, its /64 for
// IPv6. Failures, bans and lifts all go by it.
func BanKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 32
	}
	p, _ := a.Prefix(bits)
	return p
}

// ClientName is a's client as people write it: the address for IPv4, the /64 for IPv6.
func ClientName(a netip.Addr) string { return keyName(BanKey(a)) }

func keyName(k netip.Prefix) string {
	if k.Addr().Is4() {
		return k.Addr().String()
	}
	return k.String()
}

// Fail records a failed authentication; when this failure bans a's client, it returns how
// long the ban lasts, else 0.
func (b *Bans) Fail(a netip.Addr) time.Duration {
	if b.threshold <= 0 || !a.IsValid() {
		return 0
	}
	k, now := BanKey(a), time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweepLocked(now, false)
	f, ok := b.failures[k]
	if !ok || now.Sub(f.since) >= b.window {
		if !ok && len(b.failures) >= b.maxTracked {
			b.sweepLocked(now, true)
			for other := range b.failures { // full of live counts: make room
				if len(b.failures) < b.maxTracked {
					break
				}
				delete(b.failures, other)
			}
		}
		f = failures{since: now}
	}
	f.n++
	if f.n < b.threshold {
		b.failures[k] = f
		return 0
	}
	delete(b.failures, k)
	b.banned[k] = now.Add(b.duration)
	return b.duration
}

// sweepLocked forgets counters whose window is over and bans that ended: at most once a
// second when forced (a full map), else once per window (a minute at most).
func (b *Bans) sweepLocked(now time.Time, force bool) {
	every := min(b.window, time.Minute)
	if force {
		every = time.Second
	}
	if now.Sub(b.swept) < every {
		return
	}
	b.swept = now
	for k, f := range b.failures {
		if now.Sub(f.since) >= b.window {
			delete(b.failures, k)
		}
	}
	for k, until := range b.banned {
		if now.After(until) {
			delete(b.banned, k)
		}
	}
}

// Len is the number of bans in force.
func (b *Bans) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.swept = time.Time{}
	b.sweepLocked(time.Now(), false)
	return len(b.banned)
}

// Tracked is the number of clients with a failure count in force (expired ones are
// forgotten first).
func (b *Bans) Tracked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.swept = time.Time{}
	b.sweepLocked(time.Now(), false)
	return len(b.failures)
}

// Ban bans a's client for d from now (an operator's ban), replacing any ban it had.
func (b *Bans) Ban(a netip.Addr, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.banned[BanKey(a)] = time.Now().Add(d)
}

// Banned reports whether a's client is banned now.
func (b *Bans) Banned(a netip.Addr) bool {
	_, ok := b.BannedFor(a)
	return ok
}

// BannedFor reports whether a's client is banned now, and for how much longer.
func (b *Bans) BannedFor(a netip.Addr) (time.Duration, bool) {
	k := BanKey(a)
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.banned[k]
	if !ok {
		return 0, false
	}
	left := time.Until(until)
	if left <= 0 {
		delete(b.banned, k)
		return 0, false
	}
	return left, true
}

// Ban is one banned client (an address, or an IPv6 /64) and when its ban ends.
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
	for k, until := range b.banned {
		if now.After(until) {
			delete(b.banned, k)
			continue
		}
		out = append(out, Ban{Address: keyName(k), Until: until.UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// Lift ends the ban of a's client and forgets its failures; it reports whether it was
// banned.
func (b *Bans) Lift(a netip.Addr) bool {
	k := BanKey(a)
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.banned[k]
	delete(b.banned, k)
	delete(b.failures, k)
	return ok
}

package security

import (
	"net/netip"
	"sync"
)

// ConnCounter bounds concurrent sessions per address and in all.
type ConnCounter struct {
	perIP, max int // 0: no bound

	mu    sync.Mutex
	byIP  map[netip.Addr]int
	total int
}

// NewConnCounter bounds sessions to perIP per address and max in all (0 for none).
func NewConnCounter(perIP, max int) *ConnCounter {
	return &ConnCounter{perIP: perIP, max: max, byIP: make(map[netip.Addr]int)}
}

// Acquire counts one more session of a, or names the bound it would break.
func (c *ConnCounter) Acquire(a netip.Addr) (refused string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.max > 0 && c.total >= c.max:
		return RefusedFull
	case c.perIP > 0 && c.byIP[a] >= c.perIP:
		return RefusedPerIP
	}
	c.total++
	c.byIP[a]++
	return ""
}

// Release counts a session of a out.
func (c *ConnCounter) Release(a netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byIP[a] == 0 {
		return
	}
	c.total--
	if c.byIP[a]--; c.byIP[a] == 0 {
		delete(c.byIP, a)
	}
}

// Total is the number of sessions counted.
func (c *ConnCounter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// Gate decides, for each new session, whether its address may open one. Nil fields check
// nothing.
type Gate struct {
	Denylist   *Denylist
	Bans       *Bans
	Handshakes *KeyedLimiter
	Conns      *ConnCounter
}

// Blocked reports whether a may not talk to the server at all (denied or banned).
func (g *Gate) Blocked(a netip.Addr) (Refusal, bool) {
	if g.Denylist != nil && g.Denylist.Denied(a) {
		return Denied, true
	}
	if g.Bans != nil {
		if left, banned := g.Bans.BannedFor(a); banned {
			r := BannedRefusal
			r.RetryAfter = left
			return r, true
		}
	}
	return Refusal{}, false
}

// Admit lets a new session of a in, or says why not. An admitted session must be Released.
func (g *Gate) Admit(a netip.Addr) (Refusal, bool) {
	if r, refused := g.Blocked(a); refused {
		return r, true
	}
	if g.Handshakes != nil {
		if ok, wait := g.Handshakes.Allow(a.String()); !ok {
			r := HandshakeRate
			r.RetryAfter = wait
			return r, true
		}
	}
	if g.Conns != nil {
		switch g.Conns.Acquire(a) {
		case RefusedPerIP:
			return ConnsPerIP, true
		case RefusedFull:
			return Full, true
		}
	}
	return Refusal{}, false
}

// Release ends an admitted session of a.
func (g *Gate) Release(a netip.Addr) {
	if g.Conns != nil {
		g.Conns.Release(a)
	}
}

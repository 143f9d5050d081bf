package security

import (
	"net/http"
	"net/netip"
	"sync"
)

// Refusal reasons, as counted in metrics.
const (
	RefusedDenylist   = "denylist"
	RefusedBanned     = "banned"
	RefusedHandshakes = "handshake_rate"
	RefusedPerIP      = "conns_per_ip"
	RefusedFull       = "max_conns"
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
	OnRefuse   func(reason string) // counts refusals
}

// Blocked reports whether a may not talk to the server at all (denied or banned).
func (g *Gate) Blocked(a netip.Addr) (status int, refused string) {
	switch {
	case g.Denylist != nil && g.Denylist.Denied(a):
		return g.refuse(http.StatusForbidden, RefusedDenylist)
	case g.Bans != nil && g.Bans.Banned(a):
		return g.refuse(http.StatusForbidden, RefusedBanned)
	}
	return 0, ""
}

// Admit lets a new session of a in (status 0), or says which HTTP status refuses it and why.
// An admitted session must be Released.
func (g *Gate) Admit(a netip.Addr) (status int, refused string) {
	if status, refused := g.Blocked(a); status != 0 {
		return status, refused
	}
	if g.Handshakes != nil {
		if ok, _ := g.Handshakes.Allow(a.String()); !ok {
			return g.refuse(http.StatusTooManyRequests, RefusedHandshakes)
		}
	}
	if g.Conns != nil {
		if r := g.Conns.Acquire(a); r != "" {
			return g.refuse(http.StatusTooManyRequests, r)
		}
	}
	return 0, ""
}

// Release ends an admitted session of a.
func (g *Gate) Release(a netip.Addr) {
	if g.Conns != nil {
		g.Conns.Release(a)
	}
}

func (g *Gate) refuse(status int, reason string) (int, string) {
	if g.OnRefuse != nil {
		g.OnRefuse(reason)
	}
	return status, reason
}

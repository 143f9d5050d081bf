package bench

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
)

// maxSourceIPs bounds a --source-ips list (a /16 of addresses is far more than needed).
const maxSourceIPs = 1 << 16

// parseSourceIPs reads --source-ips: comma-separated addresses and inclusive ranges
// "127.0.0.2-127.0.0.250". "" and "none" mean no binding (nil).
func parseSourceIPs(s string) ([]netip.Addr, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil, nil
	}
	var out []netip.Addr
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("bench: --source-ips: %w", err)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, err := netip.ParseAddr(strings.TrimSpace(hi))
		if err != nil {
			return nil, fmt.Errorf("bench: --source-ips: %w", err)
		}
		if a.Is4() != b.Is4() || b.Less(a) {
			return nil, fmt.Errorf("bench: --source-ips: bad range %q", part)
		}
		for x := a; ; x = x.Next() {
			if len(out) >= maxSourceIPs {
				return nil, fmt.Errorf("bench: --source-ips: more than %d addresses", maxSourceIPs)
			}
			out = append(out, x)
			if x == b {
				break
			}
		}
	}
	if len(out) > maxSourceIPs {
		return nil, fmt.Errorf("bench: --source-ips: more than %d addresses", maxSourceIPs)
	}
	return out, nil
}

// roundRobin hands out indexes 0..n-1 in turn, safely from many goroutines.
type roundRobin struct {
	n    int
	next atomic.Uint64
}

// pick returns the next index, or -1 when there is nothing to pick from.
func (r *roundRobin) pick() int {
	if r.n <= 0 {
		return -1
	}
	return int((r.next.Add(1) - 1) % uint64(r.n))
}

// allLoopback reports whether every address is a loopback one.
func allLoopback(addrs []netip.Addr) bool {
	for _, a := range addrs {
		if !a.IsLoopback() {
			return false
		}
	}
	return len(addrs) > 0
}

// loopbackHost reports whether a URL host (without port) names this machine's loopback.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

// tcpAddr is a local address for net.Dialer.LocalAddr (port chosen by the kernel).
func tcpAddr(a netip.Addr) *net.TCPAddr {
	return &net.TCPAddr{IP: a.AsSlice()}
}

package security

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
)

// ParsePrefixes reads addresses and CIDRs ("10.0.0.0/8", "192.168.1.7", "::1"), one per
// entry; a bare address is a /32 or /128.
func ParsePrefixes(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the address a request comes from: the TCP peer, or, when the peer is a
// trusted proxy, the nearest X-Forwarded-For hop that is not itself a trusted proxy.
// forwardedFor holds every X-Forwarded-For line of the request in the order received:
// a proxy appends its hop to the last one or adds a line of its own, so the hops are read
// right to left over all the lines. What a client wrote itself lies to the left of the
// first untrusted hop and is never read. A hop that does not parse ends the walk at the
// nearest trusted address (the proxy that passed it on).
func ClientIP(remoteAddr string, forwardedFor [][]byte, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !contains(trusted, peer) {
		return peer
	}
	nearest := peer
	for i := len(forwardedFor) - 1; i >= 0; i-- {
		line := forwardedFor[i]
		for len(line) > 0 {
			hop := line
			if j := bytes.LastIndexByte(line, ','); j >= 0 {
				hop, line = line[j+1:], line[:j]
			} else {
				line = nil
			}
			hop = bytes.TrimSpace(hop)
			if len(hop) == 0 {
				continue
			}
			a, ok := parseHop(hop)
			if !ok {
				return nearest
			}
			if !contains(trusted, a) {
				return a
			}
			nearest = a
		}
	}
	return nearest
}

// parseHop reads one X-Forwarded-For hop: an address, or an address and port as some
// proxies write it ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(hop []byte) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(string(hop)); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(string(hop)); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

package security

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP feeds X-Forwarded-For lines of any shape: the answer is always an address
// the request named (the peer, or a hop), never a panic, and the header of an untrusted
// peer is never read.
func FuzzClientIP(f *testing.F) {
	for _, seed := range []string{"1.2.3.4", "6.6.6.6\n1.2.3.4", "1.2.3.4, 10.0.0.1", "garbage\n1.2.3.4:80", "[2001:db8::1]:80, ,", "", ",,,", "::ffff:1.2.3.4\n10.0.0.2"} {
		f.Add("127.0.0.1:5000", seed)
		f.Add("203.0.113.9:5000", seed)
	}
	trusted, _ := ParsePrefixes([]string{"10.0.0.0/8", "127.0.0.1"})
	f.Fuzz(func(t *testing.T, remote, header string) {
		var lines [][]byte
		for _, l := range strings.Split(header, "\n") {
			lines = append(lines, []byte(l))
		}
		got := ClientIP(remote, lines, trusted)
		host, _, err := net.SplitHostPort(remote)
		if err != nil {
			host = remote
		}
		peer, err := netip.ParseAddr(host)
		if err != nil {
			return // an unparsable peer: whatever comes back is not used
		}
		peer = peer.Unmap()
		if !contains(trusted, peer) {
			if got != peer && got.IsValid() {
				t.Fatalf("an untrusted peer %v's header was read: %v", peer, got)
			}
			return
		}
		if !got.IsValid() {
			t.Fatalf("no address for trusted peer %v and %q", peer, header)
		}
		if got == peer {
			return
		}
		for _, hop := range strings.FieldsFunc(header, func(r rune) bool { return r == ',' || r == '\n' }) {
			if a, ok := parseHop([]byte(strings.TrimSpace(hop))); ok && a == got {
				return
			}
		}
		t.Fatalf("%v is neither the peer nor a hop of %q", got, header)
	})
}

package security

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
)

// Denylist holds refused addresses and networks; Load replaces them atomically, so a bad
// file leaves the previous list in force.
type Denylist struct {
	prefixes atomic.Pointer[[]netip.Prefix]
}

// Load reads path: one address or CIDR a line, '#' starts a comment.
func (d *Denylist) Load(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var entries []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if _, err := ParsePrefixes([]string{line}); err != nil {
			return 0, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		entries = append(entries, line)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	prefixes, _ := ParsePrefixes(entries)
	d.prefixes.Store(&prefixes)
	return len(prefixes), nil
}

// Denied reports whether a is on the list.
func (d *Denylist) Denied(a netip.Addr) bool {
	p := d.prefixes.Load()
	return p != nil && contains(*p, a)
}

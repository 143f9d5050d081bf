package store

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
)

func TestIDFormat(t *testing.T) {
	vals := []uint64{0, 1, 31, 32, 1 << 16, math.MaxUint32, math.MaxUint64 - 1, math.MaxUint64}
	for range 1000 {
		vals = append(vals, rand.Uint64(), rand.Uint64()>>rand.IntN(64))
	}
	strs := make([]string, len(vals))
	for i, v := range vals {
		s := formatID(v)
		if len(s) != idLen || !ValidID(s) {
			t.Fatalf("formatID(%d) = %q", v, s)
		}
		if back, ok := parseID(s); !ok || back != v {
			t.Fatalf("parseID(formatID(%d)) = %d, %v", v, back, ok)
		}
		strs[i] = s
	}
	// String order is numeric order.
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	sort.Strings(strs)
	for i := range vals {
		if formatID(vals[i]) != strs[i] {
			t.Fatalf("order differs at %d", i)
		}
	}
	if formatID(math.MaxUint64) != "fvvvvvvvvvvvv" {
		t.Fatalf("max id = %s", formatID(math.MaxUint64))
	}
	for _, bad := range []string{"", "0", "000000000000", "0000000000000x", "g000000000000",
		"000000000000w", "00000000000A0", "000000000000/", "000000000000:"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestIDGen(t *testing.T) {
	now := int64(1_000_000)
	g := &idGen{now: func() int64 { return now }}
	a, b := g.next(), g.next()
	if a != uint64(now)<<16 || b != a+1 {
		t.Fatalf("same ms: %x %x", a, b)
	}
	now = 999_000 // the clock steps back
	if c := g.next(); c != b+1 {
		t.Fatalf("clock back: %x after %x", c, b)
	}
	now = 2_000_000
	d := g.next()
	if d != uint64(now)<<16 || idTime(d).UnixMilli() != now {
		t.Fatalf("clock forward: %x", d)
	}
	// More than 65536 ids in one millisecond borrow from the next one.
	prev := d
	for range 70000 {
		v := g.next()
		if v <= prev {
			t.Fatalf("not increasing: %x after %x", v, prev)
		}
		prev = v
	}
	if prev>>16 != uint64(now)+1 {
		t.Fatalf("after 70001 ids in one ms: ms = %d", prev>>16)
	}
	g.observe(prev - 5) // behind: no effect
	if v := g.next(); v != prev+1 {
		t.Fatalf("observe behind moved the generator: %x", v)
	}
	g.observe(uint64(now+10) << 16)
	if v := g.next(); v != uint64(now+10)<<16+1 {
		t.Fatalf("after observe: %x", v)
	}
	neg := &idGen{now: func() int64 { return -5 }}
	if v := neg.next(); v != 1 { // 0 is below every id
		t.Fatalf("negative clock: %x", v)
	}
}

func TestIDGenConcurrent(t *testing.T) {
	g := &idGen{now: func() int64 { return 42 }} // a frozen clock: all through the counter
	const workers, each = 8, 5000
	out := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				out[w] = append(out[w], g.next())
			}
		})
	}
	wg.Wait()
	seen := make(map[uint64]bool, workers*each)
	for _, vs := range out {
		for i, v := range vs {
			if seen[v] || i > 0 && v <= vs[i-1] {
				t.Fatalf("duplicate or decreasing id %x", v)
			}
			seen[v] = true
		}
	}
}

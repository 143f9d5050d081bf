package security

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestKeyedLimiter(t *testing.T) {
	l := NewKeyedLimiter(3, time.Minute, 3)
	for i := range 3 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatalf("event %d refused inside the burst", i)
		}
	}
	ok, wait := l.Allow("alice")
	if ok || wait < 15*time.Second || wait > 21*time.Second {
		t.Fatalf("4th event: ok=%v retry after %v, want refused with ~20 s", ok, wait)
	}
	if ok, _ := l.Allow("bob"); !ok {
		t.Fatal("another key shares alice's bucket")
	}
	if l.Len() != 2 {
		t.Fatalf("Len = %d", l.Len())
	}
	off := NewKeyedLimiter(0, time.Minute, 0)
	for range 1000 {
		if ok, _ := off.Allow("x"); !ok {
			t.Fatal("a limiter that is off refused")
		}
	}
}

func TestKeyedLimiterAllowN(t *testing.T) {
	l := NewKeyedLimiter(1000, time.Hour, 1000) // a byte budget: 1,000 an hour
	if ok, _ := l.AllowN("alice", 600); !ok {
		t.Fatal("600 of 1,000 refused")
	}
	ok, wait := l.AllowN("alice", 600)
	if ok || wait < 11*time.Minute || wait > 13*time.Minute {
		t.Fatalf("600 more: ok=%v retry after %v, want refused with ~12 min (200 bytes at 1,000 an hour)", ok, wait)
	}
	if ok, _ := l.AllowN("alice", 400); !ok {
		t.Fatal("the 400 left refused: a refusal must not spend tokens")
	}
	if ok, wait := l.AllowN("bob", 1001); ok || wait < 24*time.Hour {
		t.Fatalf("more than the burst: ok=%v retry after %v, want never", ok, wait)
	}
}

func TestKeyedLimiterForgetsFullBuckets(t *testing.T) {
	l := NewKeyedLimiter(1000, time.Second, 1)
	l.Allow("a")
	time.Sleep(5 * time.Millisecond) // the bucket refills
	l.swept = time.Time{}
	l.Allow("b")
	if l.Len() != 1 {
		t.Fatalf("Len = %d after a sweep, want only b", l.Len())
	}
}

func TestLimiterCountsRefusalsInARow(t *testing.T) {
	l := NewLimiter(1, 2)
	l.Allow()
	l.Allow()
	for i := 1; i <= 3; i++ {
		ok, wait, n := l.Allow()
		if ok || wait <= 0 || n != i {
			t.Fatalf("refusal %d: ok=%v wait=%v inARow=%d", i, ok, wait, n)
		}
	}
	if ok, _, n := NewLimiter(0, 0).Allow(); !ok || n != 0 {
		t.Fatal("an unlimited limiter refused")
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := ParsePrefixes([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		remote string
		xff    []string // header lines, in the order received
		want   string
	}{
		{"203.0.113.9:5000", []string{"1.2.3.4"}, "203.0.113.9"},                  // untrusted peer: header ignored
		{"127.0.0.1:5000", []string{"1.2.3.4"}, "1.2.3.4"},                        // trusted proxy
		{"127.0.0.1:5000", []string{"1.2.3.4, 10.1.1.1"}, "1.2.3.4"},              // chain of trusted proxies
		{"127.0.0.1:5000", []string{"6.6.6.6, 1.2.3.4"}, "1.2.3.4"},               // a client cannot push a fake first hop
		{"127.0.0.1:5000", []string{"6.6.6.6", "1.2.3.4"}, "1.2.3.4"},             // nor a fake first line: the proxy's own line wins
		{"127.0.0.1:5000", []string{"6.6.6.6", "5.5.5.5, 1.2.3.4"}, "1.2.3.4"},    // lines and lists together, right to left
		{"127.0.0.1:5000", []string{"6.6.6.6", "1.2.3.4", "10.0.0.2"}, "1.2.3.4"}, // a second trusted proxy's line
		{"127.0.0.1:5000", []string{"garbage", "1.2.3.4"}, "1.2.3.4"},             // garbage the client wrote is never read
		{"127.0.0.1:5000", []string{"garbage"}, "127.0.0.1"},                      // broken nearest hop: the proxy that passed it
		{"127.0.0.1:5000", []string{"1.2.3.4, garbage, 10.0.0.3"}, "10.0.0.3"},    // ...the nearest trusted one
		{"127.0.0.1:5000", []string{"1.2.3.4:5678"}, "1.2.3.4"},                   // a hop with a port
		{"127.0.0.1:5000", []string{"[2001:db8::7]:80"}, "2001:db8::7"},           // an IPv6 hop with a port
		{"127.0.0.1:5000", []string{"::ffff:1.2.3.4"}, "1.2.3.4"},                 // mapped v4 hop
		{"127.0.0.1:5000", []string{" 1.2.3.4 ,, "}, "1.2.3.4"},                   // spaces and empty elements
		{"127.0.0.1:5000", []string{"10.0.0.9"}, "10.0.0.9"},                      // only trusted hops: the farthest
		{"127.0.0.1:5000", nil, "127.0.0.1"},                                      // no header
		{"[::ffff:198.51.100.1]:80", nil, "198.51.100.1"},                         // mapped v4
		{"[2001:db8::1]:80", nil, "2001:db8::1"},                                  // v6
	}
	for _, c := range cases {
		var lines [][]byte
		for _, l := range c.xff {
			lines = append(lines, []byte(l))
		}
		if got := ClientIP(c.remote, lines, trusted); got.String() != c.want {
			t.Errorf("ClientIP(%q, %q) = %v, want %s", c.remote, c.xff, got, c.want)
		}
	}
	if ClientIP("nonsense", nil, nil).IsValid() {
		t.Error("an unparsable peer gave an address")
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/99"}); err == nil {
		t.Error("bad CIDR accepted")
	}
	if _, err := ParsePrefixes([]string{"not-an-ip"}); err == nil {
		t.Error("bad address accepted")
	}
}

func TestDenylistLoadAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deny")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# bad actors\n192.0.2.7\n198.51.100.0/24 # a whole network\n\n2001:db8::/32\n")
	var d Denylist
	if n, err := d.Load(path); err != nil || n != 3 {
		t.Fatalf("Load = %d, %v", n, err)
	}
	for _, a := range []string{"192.0.2.7", "198.51.100.200", "2001:db8::5"} {
		if !d.Denied(netip.MustParseAddr(a)) {
			t.Errorf("%s not denied", a)
		}
	}
	if d.Denied(netip.MustParseAddr("192.0.2.8")) {
		t.Error("192.0.2.8 denied")
	}
	write("192.0.2.7\nthis is not an address\n")
	if _, err := d.Load(path); err == nil {
		t.Fatal("a bad file loaded")
	}
	if !d.Denied(netip.MustParseAddr("198.51.100.1")) {
		t.Error("a bad file replaced the list in force")
	}
	if _, err := d.Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestBans(t *testing.T) {
	b := NewBans(3, time.Minute, 50*time.Millisecond, 0)
	a := netip.MustParseAddr("192.0.2.1")
	if b.Fail(a) != 0 || b.Fail(a) != 0 {
		t.Fatal("banned before the threshold")
	}
	if b.Fail(a) != 50*time.Millisecond || !b.Banned(a) {
		t.Fatal("not banned for the ban's duration at the threshold")
	}
	if list := b.List(); len(list) != 1 || list[0].Address != "192.0.2.1" {
		t.Fatalf("List = %v", list)
	}
	time.Sleep(60 * time.Millisecond)
	if b.Banned(a) || len(b.List()) != 0 {
		t.Fatal("ban outlived its duration")
	}
	for range 3 {
		b.Fail(a)
	}
	if !b.Lift(a) || b.Banned(a) || b.Lift(a) {
		t.Fatal("Lift did not end the ban once")
	}
	old := NewBans(2, 20*time.Millisecond, time.Minute, 0)
	old.Fail(a)
	time.Sleep(30 * time.Millisecond)
	if old.Fail(a) != 0 {
		t.Fatal("a failure outside the window counted")
	}
	if NewBans(0, time.Minute, time.Minute, 0).Fail(a) != 0 {
		t.Fatal("bans that are off banned")
	}
	b.Ban(a, 40*time.Millisecond) // an operator's ban
	if !b.Banned(a) {
		t.Fatal("Ban did not ban")
	}
	time.Sleep(50 * time.Millisecond)
	if b.Banned(a) {
		t.Fatal("an operator's ban outlived its duration")
	}
}

// An IPv6 client counts by its /64: rotating addresses inside it earns the ban all the
// same, and the ban covers the whole /64; IPv4 addresses count one by one.
func TestBansCountIPv6ByPrefix(t *testing.T) {
	b := NewBans(3, time.Minute, time.Minute, 0)
	for i := 1; i <= 2; i++ {
		if b.Fail(netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i))) != 0 {
			t.Fatal("banned before the threshold")
		}
	}
	if b.Fail(netip.MustParseAddr("2001:db8:1:2:ffff::3")) == 0 {
		t.Fatal("three failures from one /64 did not ban it")
	}
	if !b.Banned(netip.MustParseAddr("2001:db8:1:2::beef")) || b.Banned(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Fatal("the ban does not cover exactly the /64")
	}
	if list := b.List(); len(list) != 1 || list[0].Address != "2001:db8:1:2::/64" {
		t.Fatalf("List = %v", list)
	}
	if !b.Lift(netip.MustParseAddr("2001:db8:1:2::99")) {
		t.Fatal("Lift by another address of the /64")
	}
	b.Fail(netip.MustParseAddr("192.0.2.1"))
	b.Fail(netip.MustParseAddr("192.0.2.2"))
	if b.Fail(netip.MustParseAddr("192.0.2.3")) != 0 {
		t.Fatal("IPv4 neighbours counted together")
	}
}

// Counters are forgotten once their window is over, and never more than maxTracked are
// kept: a flood of addresses each failing once holds a bounded map.
func TestBansForgetAndBound(t *testing.T) {
	b := NewBans(5, 30*time.Millisecond, time.Minute, 100)
	for i := range 1000 {
		b.Fail(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		if n := len(b.failures); n > 100 {
			t.Fatalf("%d counters after %d failures, bound 100", n, i+1)
		}
	}
	if n := b.Tracked(); n != 100 {
		t.Fatalf("Tracked = %d, want the bound, 100", n)
	}
	time.Sleep(40 * time.Millisecond)
	if n := b.Tracked(); n != 0 {
		t.Fatalf("Tracked = %d after the window, want 0", n)
	}
	// a client counting when the map is full still gets banned
	for i := range 100 {
		b.Fail(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}))
	}
	a := netip.MustParseAddr("192.0.2.9")
	for range 4 {
		b.Fail(a)
	}
	if b.Fail(a) == 0 {
		t.Fatal("not banned")
	}
}

func TestGate(t *testing.T) {
	deny := &Denylist{}
	path := filepath.Join(t.TempDir(), "deny")
	_ = os.WriteFile(path, []byte("192.0.2.66\n"), 0o600)
	if _, err := deny.Load(path); err != nil {
		t.Fatal(err)
	}
	bans := NewBans(1, time.Minute, time.Minute, 0)
	g := &Gate{
		Denylist:   deny,
		Bans:       bans,
		Handshakes: NewKeyedLimiter(3, time.Minute, 3),
		Conns:      NewConnCounter(2, 3),
	}
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	admit := func(ip netip.Addr, want Refusal) Refusal {
		t.Helper()
		got, refused := g.Admit(ip)
		if refused != (want.Reason != "") || got.Reason != want.Reason || got.Code != want.Code || got.Status != want.Status {
			t.Fatalf("Admit(%s) = %+v, %v; want %+v", ip, got, refused, want)
		}
		return got
	}
	admit(a, Refusal{})
	admit(a, Refusal{})
	if r := admit(a, ConnsPerIP); r.RetryAfter != ConnsRetryAfter {
		t.Fatalf("over the cap: retry after %v", r.RetryAfter)
	}
	g.Release(a)
	if r := admit(a, HandshakeRate); r.RetryAfter < 10*time.Second || r.RetryAfter > 20*time.Second {
		t.Fatalf("4th handshake in a minute: retry after %v, want the 20 s to the next token", r.RetryAfter)
	}
	admit(b, Refusal{})
	admit(c, Refusal{})
	if r := admit(netip.MustParseAddr("192.0.2.4"), Full); !r.Retry || r.Code != CodeUnavailable {
		t.Fatalf("a full server: %+v", r)
	}
	if g.Conns.Total() != 3 {
		t.Fatalf("Total = %d", g.Conns.Total())
	}
	if r := admit(netip.MustParseAddr("192.0.2.66"), Denied); r.RetryAfter != 0 || r.Retry {
		t.Fatalf("denied: %+v", r)
	}
	bans.Fail(c)
	if r := admit(c, BannedRefusal); r.RetryAfter <= 59*time.Second || r.RetryAfter > time.Minute {
		t.Fatalf("banned: retry after %v, want the ban's minute", r.RetryAfter)
	}
	g.Release(netip.MustParseAddr("203.0.113.1")) // never admitted: no effect
	if g.Conns.Total() != 3 {
		t.Fatal("releasing an unknown address changed the count")
	}
	var open Gate
	if _, refused := open.Admit(a); refused {
		t.Fatal("an empty gate refused")
	}
	open.Release(a)
}

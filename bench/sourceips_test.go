package bench

import (
	"net/netip"
	"sync"
	"testing"
)

func TestParseSourceIPs(t *testing.T) {
	got, err := parseSourceIPs(" 127.0.0.2-127.0.0.4, 10.0.0.1 ,127.0.0.254-127.0.1.1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "10.0.0.1", "127.0.0.254", "127.0.0.255", "127.0.1.0", "127.0.1.1"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i, w := range want {
		if got[i] != netip.MustParseAddr(w) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	all, err := parseSourceIPs(autoSourceIPs(10_000))
	if err != nil || len(all) != 2500 || !allLoopback(all) {
		t.Fatalf("auto for 10,000 connections: %d addresses, %v", len(all), err)
	}
	for _, none := range []string{"", "none", "  "} {
		if got, err := parseSourceIPs(none); got != nil || err != nil {
			t.Fatalf("%q: %v %v", none, got, err)
		}
	}
	for _, bad := range []string{"127.0.0.5-127.0.0.1", "nope", "127.0.0.1-nope", "127.0.0.1-::1", "10.0.0.0-10.1.0.0"} {
		if _, err := parseSourceIPs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if v6, err := parseSourceIPs("::1"); err != nil || len(v6) != 1 || !allLoopback(v6) {
		t.Fatalf("::1: %v %v", v6, err)
	}
	if allLoopback(nil) || allLoopback([]netip.Addr{netip.MustParseAddr("10.0.0.1")}) {
		t.Fatal("allLoopback")
	}
}

func TestRoundRobin(t *testing.T) {
	var none roundRobin
	if none.pick() != -1 {
		t.Fatal("empty pool picked")
	}
	rr := roundRobin{n: 3}
	counts := make([]int, 3)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 300 {
				i := rr.pick()
				mu.Lock()
				counts[i]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, n := range counts {
		if n != 400 {
			t.Fatalf("index %d picked %d times of 1200, want 400", i, n)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "127.9.9.9": true, "[::1]": true, "::1": true,
		"10.0.0.1": false, "example.com": false,
	} {
		if loopbackHost(host) != want {
			t.Errorf("loopbackHost(%q) != %v", host, want)
		}
	}
}

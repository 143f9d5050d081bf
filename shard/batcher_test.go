package shard

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBatcherMergesPerKeyOverAWindowFromTheFirstValue(t *testing.T) {
	var mu sync.Mutex
	got := map[string][][]int{}
	flushedAt := map[string][]time.Time{}
	b := NewBatcher(60*time.Millisecond, func(k string, vs []int) {
		mu.Lock()
		got[k] = append(got[k], vs)
		flushedAt[k] = append(flushedAt[k], time.Now())
		mu.Unlock()
	})
	start := time.Now()
	b.Add("a", 1)
	time.Sleep(30 * time.Millisecond)
	b.Add("a", 2, 3) // inside a's window, whenever it started
	b.Add("b", 9)
	time.Sleep(120 * time.Millisecond)
	b.Add("a", 4)
	b.Close() // flushes a's second window at once
	b.Add("c", 5)
	mu.Lock()
	defer mu.Unlock()
	if len(got["a"]) != 2 || !slices.Equal(got["a"][0], []int{1, 2, 3}) || !slices.Equal(got["a"][1], []int{4}) {
		t.Fatalf("a flushed as %v, want [1 2 3] then [4]", got["a"])
	}
	if d := flushedAt["a"][0].Sub(start); d < 55*time.Millisecond {
		t.Fatalf("a's first window closed after %v, want ~60ms", d)
	}
	if len(got["b"]) != 1 || got["b"][0][0] != 9 || len(got["c"]) != 1 {
		t.Fatalf("b flushed as %v, c as %v", got["b"], got["c"])
	}
}

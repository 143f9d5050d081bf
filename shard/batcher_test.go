package shard

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBatcherMergesPerKeyPerWindow(t *testing.T) {
	var mu sync.Mutex
	got := map[string][][]int{}
	b := NewBatcher(30*time.Millisecond, func(k string, vs []int) {
		mu.Lock()
		got[k] = append(got[k], vs)
		mu.Unlock()
	})
	b.Add("a", 1)
	b.Add("a", 2, 3)
	b.Add("b", 9)
	time.Sleep(80 * time.Millisecond)
	b.Add("a", 4)
	b.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(got["a"]) != 2 || !slices.Equal(got["a"][0], []int{1, 2, 3}) || !slices.Equal(got["a"][1], []int{4}) {
		t.Fatalf("a flushed as %v, want [1 2 3] then [4] (Close flushes)", got["a"])
	}
	if len(got["b"]) != 1 || got["b"][0][0] != 9 {
		t.Fatalf("b flushed as %v", got["b"])
	}
}

package bench

import (
	"maps"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 µs to 2 minutes, 3 significant digits.
const (
	histMinUS  = 1
	histMaxUS  = 120_000_000
	histDigits = 3
	histShards = 8
)

// latency is a histogram of durations, sharded so that thousands of reader goroutines
// rarely wait on one lock. Shards are allocated on first use.
type latency struct {
	shards [histShards]latencyShard
}

type latencyShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [48]byte // keep shards on separate cache lines
}

// record adds one duration in nanoseconds; values outside the range are clamped.
func (l *latency) record(shard int, ns int64) {
	us := max(ns/1000, histMinUS)
	us = min(us, histMaxUS)
	s := &l.shards[shard%histShards]
	s.mu.Lock()
	if s.h == nil {
		s.h = hdrhistogram.New(histMinUS, histMaxUS, histDigits)
	}
	_ = s.h.RecordValue(us)
	s.mu.Unlock()
}

// merged returns one histogram of every shard's values.
func (l *latency) merged() *hdrhistogram.Histogram {
	all := hdrhistogram.New(histMinUS, histMaxUS, histDigits)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		if s.h != nil {
			all.Merge(s.h)
		}
		s.mu.Unlock()
	}
	return all
}

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// summarize reads the percentiles of a histogram of microseconds.
func summarize(h *hdrhistogram.Histogram) Summary {
	n := h.TotalCount()
	if n == 0 {
		return Summary{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Summary{
		Count: n,
		P50:   ms(h.ValueAtQuantile(50)),
		P95:   ms(h.ValueAtQuantile(95)),
		P99:   ms(h.ValueAtQuantile(99)),
		Max:   ms(h.Max()),
		Mean:  h.Mean() / 1000,
	}
}

func (l *latency) summary() Summary { return summarize(l.merged()) }

// tally counts occurrences by name (error codes, disconnect reasons).
type tally struct {
	mu sync.Mutex
	m  map[string]int64
}

func (t *tally) add(key string, n int64) {
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[string]int64)
	}
	t.m[key] += n
	t.mu.Unlock()
}

func (t *tally) total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, v := range t.m {
		n += v
	}
	return n
}

// snapshot copies the counts (never nil, so the JSON report always has the object).
func (t *tally) snapshot() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.m))
	maps.Copy(out, t.m)
	return out
}

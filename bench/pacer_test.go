package bench

import (
	"context"
	"testing"
	"time"
)

func TestPacerSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPacer(start, 400)
	for k, want := range map[int64]time.Duration{0: 0, 1: 2500 * time.Microsecond, 400: time.Second, 1000: 2500 * time.Millisecond} {
		if got := p.due(k).Sub(start); got != want {
			t.Errorf("due(%d) = %v, want %v", k, got, want)
		}
	}
}

func TestPacerWaits(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	p := newPacer(start, 1000) // 1 ms apart
	for k := range int64(50) {
		if !p.wait(ctx, k) {
			t.Fatal("wait failed")
		}
		if now := time.Now(); now.Before(p.due(k)) {
			t.Fatalf("event %d at %v, before it was due (%v)", k, now.Sub(start), p.due(k).Sub(start))
		}
	}
	if d := time.Since(start); d < 49*time.Millisecond || d > 2*time.Second {
		t.Fatalf("50 events at 1000/s took %v", d)
	}
	// Overdue events go at once.
	late := newPacer(time.Now().Add(-time.Second), 100)
	t0 := time.Now()
	for k := range int64(100) {
		late.wait(ctx, k)
	}
	if d := time.Since(t0); d > 50*time.Millisecond {
		t.Fatalf("overdue events waited %v", d)
	}
	// A cancelled context ends a wait.
	cctx, cancel := context.WithCancel(ctx)
	far := newPacer(time.Now().Add(time.Hour), 1)
	time.AfterFunc(10*time.Millisecond, cancel)
	if far.wait(cctx, 0) || far.wait(cctx, 0) {
		t.Fatal("wait outlived its context")
	}
	if sleepCtx(cctx, time.Hour) || sleepCtx(cctx, 0) {
		t.Fatal("sleepCtx outlived its context")
	}
	if !sleepCtx(ctx, time.Millisecond) {
		t.Fatal("sleepCtx failed")
	}
}

func TestSendWorkers(t *testing.T) {
	for rate, want := range map[float64]int{1: 1, 100: 1, 500: 2, 1000: 4, 100000: 8} {
		if got := sendWorkers(rate); got != want {
			t.Errorf("sendWorkers(%v) = %d, want %d", rate, got, want)
		}
	}
}

package bench

import (
	"context"
	"time"
)

// pacer spaces events evenly: event k is due at start + k/rate. A caller that falls
// behind gets every overdue event at once (and its lateness shows in the report), so the
// total count over a span stays what the rate asks for. One pacer serves one goroutine.
type pacer struct {
	start time.Time
	step  float64 // nanoseconds between events
	timer *time.Timer
}

func newPacer(start time.Time, rate float64) *pacer {
	return &pacer{start: start, step: float64(time.Second) / rate}
}

// due is when event k should happen.
func (p *pacer) due(k int64) time.Time {
	return p.start.Add(time.Duration(float64(k) * p.step))
}

// wait sleeps until event k is due; false when ctx ended first.
func (p *pacer) wait(ctx context.Context, k int64) bool {
	d := time.Until(p.due(k))
	if d <= 0 {
		return ctx.Err() == nil
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return true
	case <-ctx.Done():
		p.timer.Stop()
		return false
	}
}

// sleepCtx sleeps for d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

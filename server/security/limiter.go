package security

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// KeyedLimiter is a token bucket per key (a user, an IP address). Buckets idle long enough
// to be full again are dropped, so memory follows the active keys.
type KeyedLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

// NewKeyedLimiter allows n events per period per key, in bursts of burst. n <= 0 turns the
// limiter off: every event passes.
func NewKeyedLimiter(n int, period time.Duration, burst int) *KeyedLimiter {
	if n <= 0 {
		return &KeyedLimiter{limit: rate.Inf}
	}
	if burst <= 0 {
		burst = n
	}
	return &KeyedLimiter{limit: rate.Limit(float64(n) / period.Seconds()), burst: burst, buckets: make(map[string]*rate.Limiter)}
}

// Allow takes one token for key; when none is left it reports how long until one is.
func (k *KeyedLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return k.AllowN(key, 1)
}

// AllowN takes n tokens for key at once (a byte budget spends one per byte); when too few
// are left it takes none and reports how long until enough are. n larger than the burst
// never passes (retryAfter is rate.InfDuration).
func (k *KeyedLimiter) AllowN(key string, n int) (ok bool, retryAfter time.Duration) {
	if k.limit == rate.Inf {
		return true, 0
	}
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweep(now)
	b := k.buckets[key]
	if b == nil {
		b = rate.NewLimiter(k.limit, k.burst)
		k.buckets[key] = b
	}
	return take(b, now, n)
}

// take spends n tokens of b at now, or reports the wait for them without spending any.
func take(b *rate.Limiter, now time.Time, n int) (bool, time.Duration) {
	r := b.ReserveN(now, n)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops full buckets, at most once a minute.
func (k *KeyedLimiter) sweep(now time.Time) {
	if now.Sub(k.swept) < time.Minute {
		return
	}
	k.swept = now
	for key, b := range k.buckets {
		if b.TokensAt(now) >= float64(k.burst) {
			delete(k.buckets, key)
		}
	}
}

// Len is the number of keys with a bucket.
func (k *KeyedLimiter) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// Limiter is one token bucket (per socket), with a count of refusals in a row so that a
// client that keeps flooding can be cut off.
type Limiter struct {
	mu      sync.Mutex
	bucket  *rate.Limiter
	refused int
}

// NewLimiter allows perSecond events a second in bursts of burst; perSecond <= 0 is off.
func NewLimiter(perSecond, burst int) *Limiter {
	if perSecond <= 0 {
		return &Limiter{}
	}
	return &Limiter{bucket: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// Allow takes a token; refusedInARow counts the refusals since the last pass.
func (l *Limiter) Allow() (ok bool, retryAfter time.Duration, refusedInARow int) {
	if l.bucket == nil {
		return true, 0, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, retryAfter = take(l.bucket, time.Now(), 1)
	if ok {
		l.refused = 0
	} else {
		l.refused++
	}
	return ok, retryAfter, l.refused
}

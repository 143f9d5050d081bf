package store

import (
	"sync/atomic"
	"time"
)

// A message id is a 64-bit value, unix milliseconds << 16 | a 16-bit counter, written as
// 13 characters of base32hex (0-9a-v), most significant first. Base32hex digits sort in
// ASCII order and the width is fixed, so the byte order of two ids is their numeric order,
// which is their creation order in this process. 64 bits need 13 digits (65 bits), so the
// first digit is at most 'f'.
const (
	idLen      = 13
	idAlphabet = "0123456789abcdefghijklmnopqrstuv"
	counterBit = 16
)

// idGen hands out strictly increasing id values. Normally a value is now<<16; when the
// clock has not moved past the last value (several ids in one millisecond, a clock that
// stepped back), it is the last value + 1, which borrows from the next millisecond once
// the 16-bit counter overflows. The ids then run ahead of the clock until it catches up.
type idGen struct {
	last atomic.Uint64
	now  func() int64 // unix milliseconds
}

// ids is the process-wide generator shared by every store, so ids are ordered across stores.
var ids = &idGen{now: func() int64 { return time.Now().UnixMilli() }}

func (g *idGen) next() uint64 {
	for {
		last := g.last.Load()
		v := uint64(max(g.now(), 0)) << counterBit
		if v <= last {
			v = last + 1
		}
		if g.last.CompareAndSwap(last, v) {
			return v
		}
	}
}

// observe makes every later value larger than v (a stored id after a restart).
func (g *idGen) observe(v uint64) {
	for {
		last := g.last.Load()
		if v <= last || g.last.CompareAndSwap(last, v) {
			return
		}
	}
}

// formatID writes v as an id.
func formatID(v uint64) string {
	var b [idLen]byte
	for i := idLen - 1; i >= 0; i-- {
		b[i] = idAlphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

// parseID reads an id; ok is false if s is not one.
func parseID(s string) (v uint64, ok bool) {
	if len(s) != idLen || s[0] > 'f' {
		return 0, false
	}
	for i := 0; i < idLen; i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'v':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		v = v<<5 | uint64(d)
	}
	return v, true
}

// idTime is the creation time encoded in an id value.
func idTime(v uint64) time.Time {
	return time.UnixMilli(int64(v >> counterBit)).UTC()
}

// ValidID reports whether s has the form of a message id. The hub can use it to tell a
// malformed id (INVALID_PAYLOAD) from an unknown one (NOT_FOUND).
func ValidID(s string) bool {
	_, ok := parseID(s)
	return ok
}

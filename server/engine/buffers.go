package engine

import (
	"math/bits"
	"sync"
)

// Large messages arrive over several reads and are gathered in a buffer of their own (the
// WebSocket decoder's partial frame), which the handler gets and gives back once it has
// decoded it. Those buffers are reused: a flood of large frames, such as a client sending
// messages of --max-payload back to back, then costs no allocation, no zeroing and no
// garbage collection per message (each would otherwise hold up the poller that allocates
// it, and every socket it reads, with the collector's assist).

const (
	minPooled = 16 // 64 KiB: smaller buffers come and go with the allocator
	maxPooled = 24 // 16 MiB
	headroom  = 16 // a frame's header (14 bytes at most) before the payload handed on
)

// bufferPools holds buffers whose capacity is at least 1<<k, by k.
var bufferPools [maxPooled + 1]sync.Pool

// getBuffer returns an empty buffer with room for n bytes.
func getBuffer(n int) []byte {
	k := bits.Len(uint(n - 1)) // 1<<k >= n
	if k < minPooled || k > maxPooled {
		return make([]byte, 0, n)
	}
	if b, ok := bufferPools[k].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<k+headroom)
}

// putBuffer gives back a buffer (or its tail: a payload after its frame's header) that
// nothing refers to any more.
func putBuffer(b []byte) {
	k := bits.Len(uint(cap(b))) - 1 // 1<<k <= cap
	if k < minPooled || k > maxPooled {
		return
	}
	b = b[:0]
	bufferPools[k].Put(&b)
}

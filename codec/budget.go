package codec

import (
	"errors"
	"fmt"
	"math"
)

// The decode budget. Decoded data takes more memory than its bytes, and far more when the
// bytes are containers: a msgpack 0x80 (one byte, an empty map) becomes a 48-byte map in a
// 16-byte slot, 64 times its size; a map of one entry takes 336 bytes. So the decoders
// charge every value what it allocates, before allocating it, and refuse a packet once the
// total passes its budget: perByte bytes for each byte of the packet, plus BudgetBase. What
// decoding a packet allocates is then its budget and one copy of its text at most,
// whatever its shape (TestBudgetBoundsTheHeap).
//
// The costs, measured with Go 1.26 on amd64 (runtime.MemStats.TotalAlloc over 100,000
// values of each kind, maps made with their size as the decoders make them;
// TestBudgetCostsMatchTheHeap holds them to the Go that builds the tests):
const (
	costSlot   = 16  // an element of a []any (a map's entries are in mapCost)
	costNumber = 8   // a float64 boxed in an any; 0 to 255 are preallocated and free
	costString = 16  // a string header boxed in an any; plain strings share the packet's copy
	costSlice  = 24  // a []any or []byte header boxed in an any
	costMap    = 48  // an empty map
	costGroup  = 288 // a group of 8 map entries (336 bytes with the map, for 1 to 8 entries)
	costEntry  = 88  // an entry of a larger map (82 measured at 500 to 4,000 entries)
)

// DefaultBudget is the heap a packet may decode into per byte of it. What chat clients send
// costs far less (in either parser): message ids and content 0.05 to 1.2 bytes a byte,
// inline binary 1.0, a chat message's object 2; a few nested objects or a list of 200 small
// ones cost 10 to 14, within BudgetBase. Values of one to seven bytes each cost more and
// are refused in bulk: empty maps 64 (msgpack) or 38 (JSON, with the scratch stack it
// reads arrays onto), empty arrays 40 or 30, maps of one small field 117 or 59, msgpack
// nils and small integers 16, and JSON arrays of more than about 2,000 one-digit numbers
// 24 to 29. A 1 MB packet then allocates 9 MB at most, instead of up to 117 MB.
const DefaultBudget = 8

// measureAbove is the size above which a packet is measured before it is built: refusing
// one over its budget then allocates nothing.
const measureAbove = 64 << 10

// BudgetBase is every packet's allowance beyond perByte: small packets may take any shape
// (a few nested objects cost hundreds of bytes each, whatever their size on the wire).
const BudgetBase = 64 << 10

// budgetLimit is the heap a packet of n bytes may decode into; perByte < 0 means no budget.
func budgetLimit(n, perByte int) int {
	if perByte < 0 {
		return math.MaxInt
	}
	if perByte == 0 {
		perByte = DefaultBudget
	}
	return BudgetBase + perByte*n
}

// overPace reports whether a packet of n bytes with a budget of limit spends it much faster
// than it reads its bytes: spent bytes of heap by offset i, more than twice what its first
// i bytes and BudgetBase earn. Such a packet (a run of empty containers) is refused as
// soon as that shows, a few kilobytes in, rather than once its whole budget is spent: what
// a flood of them costs the server is then a read, not a walk over each. Packets whose
// costs come at their start and are paid for by what follows (a large object, then a long
// string) pass with up to twice BudgetBase spent ahead of their bytes.
func overPace(spent, i, n, limit int) bool {
	if limit <= 0 || limit == math.MaxInt || n == 0 {
		return false
	}
	return spent*n > 2*(BudgetBase*n+(limit-BudgetBase)*i)
}

// mapCost is the heap a map of n entries takes (its values' boxes aside): one group up to 8
// entries; beyond, a table that grows by doubling, about costEntry an entry.
func mapCost(n int) int {
	switch {
	case n == 0:
		return costMap
	case n <= 8:
		return costMap + costGroup
	}
	return costMap + 2*costGroup + costEntry*(n-8)
}

// errOverBudget is what a decoder's value reader returns once the packet's budget is spent.
var errOverBudget = errors.New("codec: over the decode budget")

// BudgetError is the error of a packet whose data would take more memory than its budget.
// Type, Nsp and ID are the packet's where they could be read cheaply, so that its sender
// can be told why: always with the JSON parser, whose header comes before the data; with
// msgpack, whose clients write the id after the data, when the data holds at most 4,096
// values to pass over (ID is NoID otherwise).
type BudgetError struct {
	Type  SType
	Nsp   string
	ID    int64
	Limit int // the packet's budget, bytes of heap
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("codec: packet data would take more than its decode budget of %d bytes", e.Limit)
}

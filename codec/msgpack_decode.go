package codec

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"
)

// mpReader decodes msgpack as notepack.io does, into the data tree. Strings are substrings
// of s, one copy of the input; bin payloads are copied one by one. Every value is charged
// its heap cost against left (budget.go), containers before they are allocated.
type mpReader struct {
	b     []byte
	s     string
	i     int
	depth int
	left  int
	limit int // the budget left started from (0: none)
	ahead int // what containers charged for the elements still to come (overPace)
	walk  int // reading a header only: the values skip may still pass over
}

// undefinedT is notepack's undefined (fixext 1, type 0). Inside data it reads as nil; for
// the packet's own keys it means the key is absent.
type undefinedT struct{}

func (r *mpReader) fail() error {
	return errf("invalid msgpack at offset %d", r.i)
}

// spend charges n bytes of heap to the budget.
func (r *mpReader) spend(n int) error {
	if r.left -= n; r.left < 0 || overPace(r.limit-r.left-r.ahead, r.i, len(r.b), r.limit) {
		return errOverBudget
	}
	return nil
}

// spendPayload charges a value of fixed cost and a copy of its payload bytes, which follow
// it in the packet and pay for their own copy: the copy is charged to the budget, not to
// the pace.
func (r *mpReader) spendPayload(fixed, payload int) error {
	r.ahead += payload
	return r.spend(fixed + payload)
}

// spendAhead charges a container's cost for its elements, which the bytes still to come
// pay for: to the budget, not to the pace.
func (r *mpReader) spendAhead(n int) error {
	r.ahead += n
	return r.spend(n)
}

// spendContainer charges a container of n elements (a map when isMap): its own cost paced,
// its elements' ahead.
func (r *mpReader) spendContainer(n int, isMap bool) error {
	own, all := costSlice, costSlice+costSlot*n
	if isMap {
		own, all = costMap, mapCost(n)
	}
	if err := r.spendAhead(all - own); err != nil {
		return err
	}
	return r.spend(own)
}

// take returns the next n bytes' start offset.
func (r *mpReader) take(n int) (int, error) {
	if n < 0 || n > len(r.b)-r.i {
		return 0, r.fail()
	}
	i := r.i
	r.i += n
	return i, nil
}

// uint reads an n-byte big-endian unsigned integer.
func (r *mpReader) uint(n int) (uint64, error) {
	i, err := r.take(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range r.b[i : i+n] {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// head reads the type byte and, for variable-size families, the length that follows.
// kind is 'a' array, 'm' map, 's' str, 'b' bin, 'x' ext, or 0 for a scalar.
func (r *mpReader) head() (c byte, kind byte, n int, err error) {
	if r.i >= len(r.b) {
		return 0, 0, 0, r.fail()
	}
	c = r.b[r.i]
	r.i++
	var size int
	switch {
	case c >= 0x80 && c <= 0x8f:
		return c, 'm', int(c & 0x0f), nil
	case c >= 0x90 && c <= 0x9f:
		return c, 'a', int(c & 0x0f), nil
	case c >= 0xa0 && c <= 0xbf:
		return c, 's', int(c & 0x1f), nil
	case c == 0xc4 || c == 0xd9:
		size = 1
	case c == 0xc5 || c == 0xda || c == 0xdc || c == 0xde:
		size = 2
	case c == 0xc6 || c == 0xdb || c == 0xdd || c == 0xdf:
		size = 4
	case c == 0xc7:
		size = 1
	case c == 0xc8:
		size = 2
	case c == 0xc9:
		size = 4
	default:
		return c, 0, 0, nil
	}
	v, err := r.uint(size)
	if err != nil {
		return 0, 0, 0, err
	}
	n = int(v)
	switch c {
	case 0xc4, 0xc5, 0xc6:
		kind = 'b'
	case 0xd9, 0xda, 0xdb:
		kind = 's'
	case 0xdc, 0xdd:
		kind = 'a'
	case 0xde, 0xdf:
		kind = 'm'
	default:
		kind = 'x'
	}
	// Each element takes at least one byte, so a length beyond the input is a lie; check
	// before allocating anything for it.
	if n > len(r.b)-r.i || kind == 'm' && n > (len(r.b)-r.i)/2 {
		return 0, 0, 0, r.fail()
	}
	return c, kind, n, nil
}

func (r *mpReader) value() (any, error) {
	c, kind, n, err := r.head()
	if err != nil {
		return nil, err
	}
	switch kind {
	case 'a':
		return r.array(n)
	case 'm':
		return r.object(n)
	case 's':
		if err := r.spend(costString); err != nil {
			return nil, err
		}
		return r.str(n)
	case 'b':
		if err := r.spendPayload(costSlice, n); err != nil {
			return nil, err
		}
		i, err := r.take(n)
		if err != nil {
			return nil, err
		}
		return append([]byte{}, r.b[i:i+n]...), nil
	case 'x':
		return r.ext(c, n)
	}
	switch {
	case c < 0x80:
		return boxedUints[c], nil
	case c == 0xc0:
		return nil, nil
	case c == 0xc2:
		return false, nil
	case c == 0xc3:
		return true, nil
	case c >= 0xd4 && c <= 0xd8:
		return r.ext(c, 1<<(c-0xd4))
	}
	// a number: boxed, unless boxUint finds it preallocated (charged all the same)
	if err := r.spend(costNumber); err != nil {
		return nil, err
	}
	switch {
	case c >= 0xe0:
		return float64(int8(c)), nil
	case c == 0xca:
		v, err := r.uint(4)
		return float64(math.Float32frombits(uint32(v))), err
	case c == 0xcb:
		v, err := r.uint(8)
		return math.Float64frombits(v), err
	case c >= 0xcc && c <= 0xcf:
		v, err := r.uint(1 << (c - 0xcc))
		return boxUint(v), err
	case c >= 0xd0 && c <= 0xd3:
		size := 1 << (c - 0xd0)
		v, err := r.uint(size)
		// Sign-extend from size bytes.
		shift := 64 - 8*size
		return float64(int64(v<<shift) >> shift), err
	}
	r.i--
	return nil, r.fail() // 0xc1 is never used
}

func (r *mpReader) enter() error {
	if r.depth++; r.depth > maxDepth {
		return errf("data nested deeper than %d", maxDepth)
	}
	return nil
}

func (r *mpReader) array(n int) (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	if err := r.spendContainer(n, false); err != nil {
		return nil, err
	}
	arr := make([]any, n)
	for i := range arr {
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		if _, undef := v.(undefinedT); !undef {
			arr[i] = v
		}
	}
	r.depth--
	return arr, nil
}

func (r *mpReader) object(n int) (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	if err := r.spendContainer(n, true); err != nil {
		return nil, err
	}
	m := make(map[string]any, n)
	for range n {
		k, err := r.key()
		if err != nil {
			return nil, err
		}
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		if _, undef := v.(undefinedT); undef {
			v = nil
		}
		m[k] = v
	}
	r.depth--
	return m, nil
}

// key reads a map key, which must be a string.
func (r *mpReader) key() (string, error) {
	_, kind, n, err := r.head()
	if err != nil {
		return "", err
	}
	if kind != 's' {
		return "", errf("msgpack map key is not a string")
	}
	return r.str(n)
}

func (r *mpReader) str(n int) (string, error) {
	i, err := r.take(n)
	if err != nil {
		return "", err
	}
	if r.s == "" {
		if r.walk > 0 { // reading a header only: the string, not the whole packet
			return fixUTF8(string(r.b[i : i+n])), nil
		}
		r.s = string(r.b)
	}
	return fixUTF8(r.s[i : i+n]), nil
}

// ext decodes notepack's extensions: type 0 is undefined (fixext 1), a Date (fixext 8, ms
// since the epoch; read as the string Date#toJSON gives, so both parsers agree) or an
// ArrayBuffer. Other types come out as [type, bytes], as notepack returns them.
func (r *mpReader) ext(c byte, n int) (any, error) {
	typ, err := r.uint(1)
	if err == nil {
		err = r.spendPayload(extCost(c, typ, n))
	}
	if err != nil {
		return nil, err
	}
	i, err := r.take(n)
	if err != nil {
		return nil, err
	}
	data := r.b[i : i+n]
	switch {
	case typ == 0 && c == 0xd4:
		return undefinedT{}, nil
	case typ == 0 && c == 0xd7:
		return jsDateJSON(int64(binary.BigEndian.Uint64(data))), nil
	case typ == 0:
		return append([]byte{}, data...), nil
	}
	return []any{float64(int8(typ)), append([]byte{}, data...)}, nil
}

// extCost is what ext allocates for an extension of type typ and n bytes: a fixed part,
// and a copy of payload bytes that follow.
func extCost(c byte, typ uint64, n int) (fixed, payload int) {
	switch {
	case typ == 0 && c == 0xd4:
		return 0, 0 // undefined
	case typ == 0 && c == 0xd7:
		return costString + len("+275760-09-13T00:00:00.000Z"), 0 // the longest Date
	case typ == 0:
		return costSlice, n
	}
	return 2*costSlice + 2*costSlot + costNumber, n
}

// jsDateJSON is Date#toJSON: an ISO string, or null outside the range of a Date.
func jsDateJSON(ms int64) any {
	const maxMs = 8.64e15
	if ms > maxMs || ms < -maxMs {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	var b []byte
	if y := t.Year(); y >= 0 && y <= 9999 {
		b = appendPadded(b, y, 4)
	} else {
		sign := byte('+')
		if y < 0 {
			sign, y = '-', -y
		}
		b = appendPadded(append(b, sign), y, 6)
	}
	b = appendPadded(append(b, '-'), int(t.Month()), 2)
	b = appendPadded(append(b, '-'), t.Day(), 2)
	b = appendPadded(append(b, 'T'), t.Hour(), 2)
	b = appendPadded(append(b, ':'), t.Minute(), 2)
	b = appendPadded(append(b, ':'), t.Second(), 2)
	b = appendPadded(append(b, '.'), t.Nanosecond()/1e6, 3)
	return string(append(b, 'Z'))
}

func appendPadded(b []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// skip checks and passes over one value without building it (keys the parser ignores,
// such as the client's "options"). With charge it charges what value would (map keys
// aside, and Dates as the string they become), so that a large packet is measured before it
// is built.
func (r *mpReader) skip(charge bool) error {
	if r.walk > 0 {
		if r.walk--; r.walk == 0 {
			return errOverBudget
		}
	}
	c, kind, n, err := r.head()
	if err != nil {
		return err
	}
	cost, payload := 0, 0
	switch kind {
	case 'a', 'm':
		if err := r.enter(); err != nil {
			return err
		}
		if charge {
			if err := r.spendContainer(n, kind == 'm'); err != nil {
				return err
			}
		}
		for range n {
			if kind == 'm' {
				if err := r.skip(false); err != nil { // the key: in mapCost
					return err
				}
			}
			if err := r.skip(charge); err != nil {
				return err
			}
		}
		r.depth--
		return nil
	case 's':
		cost = costString
	case 'b':
		cost, payload = costSlice, n
	case 'x':
		return r.skipExt(c, n, charge)
	}
	switch {
	case kind != 0:
	case c < 0x80, c == 0xc0, c == 0xc2, c == 0xc3:
		return nil
	case c >= 0xd4 && c <= 0xd8:
		return r.skipExt(c, 1<<(c-0xd4), charge)
	case c >= 0xe0:
		n, cost = 0, costNumber
	case c == 0xca:
		n, cost = 4, costNumber
	case c == 0xcb:
		n, cost = 8, costNumber
	case c >= 0xcc && c <= 0xcf:
		n, cost = 1<<(c-0xcc), costNumber
	case c >= 0xd0 && c <= 0xd3:
		n, cost = 1<<(c-0xd0), costNumber
	default:
		r.i--
		return r.fail()
	}
	if charge {
		if err := r.spendPayload(cost, payload); err != nil {
			return err
		}
	}
	_, err = r.take(n)
	return err
}

// skipExt passes over an extension of n bytes (skip).
func (r *mpReader) skipExt(c byte, n int, charge bool) error {
	typ, err := r.uint(1)
	if err == nil && charge {
		err = r.spendPayload(extCost(c, typ, n))
	}
	if err == nil {
		_, err = r.take(n)
	}
	return err
}

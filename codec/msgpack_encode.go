package codec

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// mpEncoder writes the data tree the way notepack.io would: whole numbers as the smallest
// integer, other numbers as float 64, []byte as bin. Map keys are sorted, for deterministic
// output.
type mpEncoder struct {
	buf   []byte
	depth int
}

func (e *mpEncoder) value(v any) error {
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, 0xc0)
	case string:
		e.buf = appendMPString(e.buf, v)
	case float64:
		e.buf = appendMPNumber(e.buf, v)
	case bool:
		if v {
			e.buf = append(e.buf, 0xc3)
		} else {
			e.buf = append(e.buf, 0xc2)
		}
	case []any:
		if v == nil {
			e.buf = append(e.buf, 0xc0)
			return nil
		}
		if err := e.enter(); err != nil {
			return err
		}
		e.buf = appendMPHead(e.buf, 0x90, 0xdc, len(v))
		for _, x := range v {
			if err := e.value(x); err != nil {
				return err
			}
		}
		e.depth--
	case map[string]any:
		return e.object(v)
	case []byte:
		if v == nil {
			e.buf = append(e.buf, 0xc0)
			return nil
		}
		switch n := len(v); {
		case n < 1<<8:
			e.buf = append(e.buf, 0xc4, byte(n))
		case n < 1<<16:
			e.buf = append(e.buf, 0xc5, byte(n>>8), byte(n))
		default:
			e.buf = appendBE(append(e.buf, 0xc6), uint64(n), 4)
		}
		e.buf = append(e.buf, v...)
	case int:
		e.buf = appendMPInt(e.buf, int64(v))
	case int64:
		e.buf = appendMPInt(e.buf, v)
	case int32:
		e.buf = appendMPInt(e.buf, int64(v))
	case int16:
		e.buf = appendMPInt(e.buf, int64(v))
	case int8:
		e.buf = appendMPInt(e.buf, int64(v))
	case uint:
		e.buf = appendMPUint(e.buf, uint64(v))
	case uint64:
		e.buf = appendMPUint(e.buf, v)
	case uint32:
		e.buf = appendMPUint(e.buf, uint64(v))
	case uint16:
		e.buf = appendMPUint(e.buf, uint64(v))
	case uint8:
		e.buf = appendMPUint(e.buf, uint64(v))
	case float32:
		e.buf = appendMPNumber(e.buf, float64(v))
	case []string:
		if v == nil {
			e.buf = append(e.buf, 0xc0)
			return nil
		}
		e.buf = appendMPHead(e.buf, 0x90, 0xdc, len(v))
		for _, s := range v {
			e.buf = appendMPString(e.buf, s)
		}
	case time.Time:
		// notepack's Date: fixext 8, type 0, milliseconds as a big-endian int64.
		e.buf = appendBE(append(e.buf, 0xd7, 0), uint64(v.UnixMilli()), 8)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return errf("invalid json.Number %q", string(v))
		}
		e.buf = appendMPNumber(e.buf, f)
	case json.Marshaler:
		return e.viaJSON(v)
	default:
		return e.viaLibrary(v)
	}
	return nil
}

func (e *mpEncoder) enter() error {
	if e.depth++; e.depth > maxDepth {
		return errf("data nested deeper than %d (cyclic?)", maxDepth)
	}
	return nil
}

func (e *mpEncoder) object(m map[string]any) error {
	if m == nil {
		e.buf = append(e.buf, 0xc0)
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	var arr [16]member
	kvs := arr[:0]
	for k, v := range m {
		kvs = append(kvs, member{k, v})
	}
	slices.SortFunc(kvs, func(a, b member) int { return strings.Compare(a.key, b.key) })
	e.buf = appendMPHead(e.buf, 0x80, 0xde, len(kvs))
	for _, kv := range kvs {
		e.buf = appendMPString(e.buf, kv.key)
		if err := e.value(kv.val); err != nil {
			return err
		}
	}
	e.depth--
	return nil
}

// viaJSON writes a json.Marshaler as the tree its JSON parses to, so it reads the same
// whichever parser the client uses.
func (e *mpEncoder) viaJSON(v json.Marshaler) error {
	text, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tree, err := parseJSON(string(text), 0, math.MaxInt) // the server's own value: no budget
	if err != nil {
		return err
	}
	return e.value(tree)
}

// mpLibrary encodes other values (structs...) with vmihailenco/msgpack, reading json tags.
type mpLibrary struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var mpLibraries = sync.Pool{New: func() any {
	l := new(mpLibrary)
	l.enc = msgpack.NewEncoder(&l.w)
	l.enc.SetCustomStructTag("json")
	l.enc.SetSortMapKeys(true)
	l.enc.UseCompactInts(true)
	l.enc.UseCompactFloats(true)
	return l
}}

func (e *mpEncoder) viaLibrary(v any) error {
	l := mpLibraries.Get().(*mpLibrary)
	l.w.b = e.buf
	err := l.enc.Encode(v)
	e.buf, l.w.b = l.w.b, nil
	mpLibraries.Put(l)
	return err
}

// appendWriter lets the library write straight into our buffer (it skips its bufio.Writer
// for writers with WriteByte and WriteString).
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

func appendMPString(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = appendBE(append(b, 0xdb), uint64(n), 4)
	}
	return append(b, s...)
}

// appendMPHead writes an array (fix 0x90, 0xdc) or map (fix 0x80, 0xde) header.
func appendMPHead(b []byte, fix, code16 byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, fix|byte(n))
	case n < 1<<16:
		return append(b, code16, byte(n>>8), byte(n))
	}
	return appendBE(append(b, code16+1), uint64(n), 4)
}

// appendMPNumber follows notepack: whole finite numbers as the smallest integer (int 64 /
// uint 64 beyond 32 bits), everything else as float 64.
func appendMPNumber(b []byte, f float64) []byte {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<64 {
		if f >= 0 {
			return appendMPUint(b, uint64(f))
		}
		return appendMPInt(b, int64(f))
	}
	return appendBE(append(b, 0xcb), math.Float64bits(f), 8)
}

func appendMPUint(b []byte, v uint64) []byte {
	switch {
	case v < 0x80:
		return append(b, byte(v))
	case v < 1<<8:
		return append(b, 0xcc, byte(v))
	case v < 1<<16:
		return append(b, 0xcd, byte(v>>8), byte(v))
	case v < 1<<32:
		return appendBE(append(b, 0xce), v, 4)
	}
	return appendBE(append(b, 0xcf), v, 8)
}

func appendMPInt(b []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendMPUint(b, uint64(v))
	case v >= -32:
		return append(b, byte(v))
	case v >= -1<<7:
		return append(b, 0xd0, byte(v))
	case v >= -1<<15:
		return append(b, 0xd1, byte(v>>8), byte(v))
	case v >= -1<<31:
		return appendBE(append(b, 0xd2), uint64(v), 4)
	}
	return appendBE(append(b, 0xd3), uint64(v), 8)
}

func appendBE(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

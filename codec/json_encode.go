package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// errUnsupportedValue matches encoding/json, which cannot write NaN or ±Inf either.
var errUnsupportedValue = errors.New("codec: unsupported value: NaN or Inf")

// jsonEncoder writes the data tree as encoding/json would (sorted map keys, no HTML
// escaping), but without reflection for the tree types.
type jsonEncoder struct {
	buf    []byte
	atts   [][]byte
	attach bool // []byte becomes an attachment placeholder; otherwise base64, as encoding/json
	depth  int
}

func (e *jsonEncoder) value(v any) error {
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.buf = appendJSONString(e.buf, v)
	case float64:
		return e.float(v, 64)
	case bool:
		e.buf = strconv.AppendBool(e.buf, v)
	case []any:
		if v == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		if err := e.enter(); err != nil {
			return err
		}
		e.buf = append(e.buf, '[')
		for i, x := range v {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(x); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		e.depth--
	case map[string]any:
		return e.object(v)
	case []byte:
		switch {
		case v == nil:
			e.buf = append(e.buf, "null"...)
		case e.attach:
			e.buf = append(e.buf, `{"_placeholder":true,"num":`...)
			e.buf = strconv.AppendInt(e.buf, int64(len(e.atts)), 10)
			e.buf = append(e.buf, '}')
			e.atts = append(e.atts, v)
		default:
			e.buf = append(e.buf, '"')
			e.buf = base64.StdEncoding.AppendEncode(e.buf, v)
			e.buf = append(e.buf, '"')
		}
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, v, 10)
	case int32:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case int16:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case int8:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case uint:
		e.buf = strconv.AppendUint(e.buf, uint64(v), 10)
	case uint64:
		e.buf = strconv.AppendUint(e.buf, v, 10)
	case uint32:
		e.buf = strconv.AppendUint(e.buf, uint64(v), 10)
	case uint16:
		e.buf = strconv.AppendUint(e.buf, uint64(v), 10)
	case uint8:
		e.buf = strconv.AppendUint(e.buf, uint64(v), 10)
	case float32:
		return e.float(float64(v), 32)
	case []string:
		if v == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.buf = append(e.buf, '[')
		for i, s := range v {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendJSONString(e.buf, s)
		}
		e.buf = append(e.buf, ']')
	default:
		return e.fallback(v)
	}
	return nil
}

func (e *jsonEncoder) enter() error {
	if e.depth++; e.depth > maxDepth {
		return errf("data nested deeper than %d (cyclic?)", maxDepth)
	}
	return nil
}

func (e *jsonEncoder) object(m map[string]any) error {
	if m == nil {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	// Sorted like encoding/json, so output is deterministic; small maps sort on the stack.
	var arr [16]member
	kvs := arr[:0]
	for k, v := range m {
		kvs = append(kvs, member{k, v})
	}
	slices.SortFunc(kvs, func(a, b member) int { return strings.Compare(a.key, b.key) })
	e.buf = append(e.buf, '{')
	for i, kv := range kvs {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendJSONString(e.buf, kv.key)
		e.buf = append(e.buf, ':')
		if err := e.value(kv.val); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	e.depth--
	return nil
}

// float formats like encoding/json, which matches JavaScript's Number#toString for float64.
func (e *jsonEncoder) float(f float64, bits int) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return errUnsupportedValue
	}
	if bits == 64 && f == math.Trunc(f) && math.Abs(f) < 1e15 && (f != 0 || !math.Signbit(f)) {
		e.buf = strconv.AppendInt(e.buf, int64(f), 10)
		return nil
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	e.buf = strconv.AppendFloat(e.buf, f, format, -1, bits)
	if format == 'e' { // e-09 to e-9
		n := len(e.buf)
		if n >= 4 && e.buf[n-4] == 'e' && e.buf[n-3] == '-' && e.buf[n-2] == '0' {
			e.buf[n-2] = e.buf[n-1]
			e.buf = e.buf[:n-1]
		}
	}
	return nil
}

// jsonFallback marshals values the tree walk does not know (structs, json.Marshaler...).
type jsonFallback struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var jsonFallbacks = sync.Pool{New: func() any {
	f := new(jsonFallback)
	f.enc = json.NewEncoder(&f.buf)
	f.enc.SetEscapeHTML(false)
	return f
}}

func (e *jsonEncoder) fallback(v any) error {
	f := jsonFallbacks.Get().(*jsonFallback)
	defer func() {
		f.buf.Reset()
		if f.buf.Cap() <= 64<<10 {
			jsonFallbacks.Put(f)
		}
	}()
	if err := f.enc.Encode(v); err != nil {
		return err
	}
	out := f.buf.Bytes()
	e.buf = append(e.buf, out[:len(out)-1]...) // Encode ends with a newline
	return nil
}

// jsonSafe marks the ASCII bytes a JSON string may hold as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s like encoding/json without HTML escaping: invalid UTF-8 becomes
// \ufffd, and U+2028/U+2029 are escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = skipPlainJSON(s, i); i >= len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

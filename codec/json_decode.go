package codec

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// jsonParser turns JSON text into the data tree (JSON.parse semantics: strict RFC 8259).
// Strings without escapes are substrings of the text, so the caller should pass a string it
// copied once from the read buffer. Arrays and objects are gathered on scratch stacks and
// then allocated at their exact size. Every value is charged its heap cost against left
// (budget.go). A measuring parser (measure) builds no container and boxes no number: it
// only charges them.
type jsonParser struct {
	s       string
	i       int
	depth   int
	left    int
	limit   int // the budget left started from
	ahead   int // what scratch stacks were charged ahead of the values they hold (overPace)
	measure bool
	vals    []any
	kvs     []member
}

type member struct {
	key string
	val any
}

// Parsers are pooled rather than kept per connection, so idle connections hold no scratch.
var jsonParsers = sync.Pool{New: func() any { return new(jsonParser) }}

// maxScratch is the scratch capacity a pooled parser may keep.
const maxScratch = 1024

// parseJSON parses s[i:] as one JSON value; only whitespace may follow it. The value may
// take limit bytes of heap (budget.go): beyond, errOverBudget.
func parseJSON(s string, i, limit int) (any, error) {
	return runJSON(s, i, limit, false)
}

// measureJSON checks s[i:] as parseJSON does, and charges what its value would take
// without building it (but for the strings it unescapes, which take no more than their
// text): it finds a value over its budget for the price of a scan, and finds no other.
func measureJSON(s string, i, limit int) error {
	_, err := runJSON(s, i, limit, true)
	return err
}

func runJSON(s string, i, limit int, measure bool) (any, error) {
	p := jsonParsers.Get().(*jsonParser)
	p.s, p.i, p.depth, p.left, p.limit, p.ahead, p.measure = s, i, 0, limit, limit, 0, measure
	v, err := p.value()
	if err == nil {
		p.ws()
		if p.i != len(p.s) {
			err = p.fail()
		}
	}
	p.s = ""
	clear(p.vals) // an error leaves values behind; drop them for the GC
	clear(p.kvs)
	p.vals, p.kvs = p.vals[:0], p.kvs[:0]
	if cap(p.vals) <= maxScratch && cap(p.kvs) <= maxScratch {
		jsonParsers.Put(p)
	}
	return v, err
}

func (p *jsonParser) fail() error {
	return errf("invalid JSON at offset %d", p.i)
}

// spend charges n bytes of heap to the budget.
func (p *jsonParser) spend(n int) error {
	if p.left -= n; p.left < 0 || overPace(p.limit-p.left-p.ahead, p.i, len(p.s), p.limit) {
		return errOverBudget
	}
	return nil
}

// growScratch makes room for one more entry of size bytes on a scratch stack by doubling
// it. Stacks beyond what the pool keeps are charged: a packet's budget bounds what decoding
// it allocates, the stacks it outgrew included.
func growScratch[T any](p *jsonParser, stack []T, size int) ([]T, error) {
	if len(stack) < cap(stack) {
		return stack, nil
	}
	n := max(2*cap(stack), 16)
	if n > maxScratch {
		p.ahead += n * size // room for values to come
		if err := p.spend(n * size); err != nil {
			return stack, err
		}
	}
	bigger := make([]T, len(stack), n)
	copy(bigger, stack)
	return bigger, nil
}

func (p *jsonParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value() (any, error) {
	p.ws()
	if p.i >= len(p.s) {
		return nil, p.fail()
	}
	switch c := p.s[p.i]; c {
	case '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return s, p.spend(costString)
	case '[':
		return p.array()
	case '{':
		return p.object()
	case 't':
		return true, p.literal("true")
	case 'f':
		return false, p.literal("false")
	case 'n':
		return nil, p.literal("null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return p.number()
		}
	}
	return nil, p.fail()
}

func (p *jsonParser) literal(lit string) error {
	if !strings.HasPrefix(p.s[p.i:], lit) {
		return p.fail()
	}
	p.i += len(lit)
	return nil
}

func (p *jsonParser) enter() error {
	p.i++
	if p.depth++; p.depth > maxDepth {
		return errf("data nested deeper than %d", maxDepth)
	}
	return nil
}

func (p *jsonParser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	if err := p.spend(costSlice); err != nil {
		return nil, err
	}
	base := len(p.vals)
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		p.depth--
		if p.measure {
			return nil, nil
		}
		return []any{}, nil
	}
	for {
		v, err := p.value()
		if err == nil {
			err = p.spend(costSlot)
		}
		if err == nil && !p.measure {
			if p.vals, err = growScratch(p, p.vals, costSlot); err == nil {
				p.vals = append(p.vals, v)
			}
		}
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.i >= len(p.s) {
			return nil, p.fail()
		}
		c := p.s[p.i]
		p.i++
		if c == ']' {
			break
		}
		if c != ',' {
			p.i--
			return nil, p.fail()
		}
	}
	if p.measure {
		p.depth--
		return nil, nil
	}
	arr := make([]any, len(p.vals)-base)
	copy(arr, p.vals[base:])
	clear(p.vals[base:])
	p.vals = p.vals[:base]
	p.depth--
	return arr, nil
}

func (p *jsonParser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	if err := p.spend(costMap); err != nil {
		return nil, err
	}
	base, n := len(p.kvs), 0
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		p.depth--
		if p.measure {
			return nil, nil
		}
		return map[string]any{}, nil
	}
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, p.fail()
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.fail()
		}
		p.i++
		v, err := p.value()
		if err == nil {
			n++
			err = p.spend(mapCost(n) - mapCost(n-1))
		}
		if err == nil && !p.measure {
			// a member: a key and a value
			if p.kvs, err = growScratch(p, p.kvs, 2*costSlot); err == nil {
				p.kvs = append(p.kvs, member{k, v})
			}
		}
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.i >= len(p.s) {
			return nil, p.fail()
		}
		c := p.s[p.i]
		p.i++
		if c == '}' {
			break
		}
		if c != ',' {
			p.i--
			return nil, p.fail()
		}
	}
	if p.measure {
		p.depth--
		return nil, nil
	}
	m := make(map[string]any, len(p.kvs)-base)
	for _, kv := range p.kvs[base:] {
		m[kv.key] = kv.val // a repeated key keeps the last value, as JSON.parse does
	}
	clear(p.kvs[base:])
	p.kvs = p.kvs[:base]
	p.depth--
	return m, nil
}

// str parses the string at p.s[p.i] == '"'. The common case (no escapes, valid UTF-8) is a
// substring of the input.
func (p *jsonParser) str() (string, error) {
	s := p.s
	start := p.i + 1
	for i := start; i < len(s); {
		if i = skipPlainJSON(s, i); i >= len(s) {
			break
		}
		c := s[i]
		switch {
		case c == '"':
			p.i = i + 1
			return s[start:i], nil
		case c == '\\' || c < 0x20:
			return p.strSlow(start, i)
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return p.strSlow(start, i)
			}
			i += size
		}
	}
	p.i = len(s)
	return "", p.fail()
}

// strSlow builds a string with escapes; s[start:i] is already known to be plain.
func (p *jsonParser) strSlow(start, i int) (string, error) {
	s := p.s
	var sb strings.Builder
	sb.Grow(i - start + 16)
	sb.WriteString(s[start:i])
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			p.i = i + 1
			return sb.String(), p.spend(sb.Cap())
		case c < 0x20:
			p.i = i
			return "", p.fail()
		case c == '\\':
			if i+1 >= len(s) {
				p.i = i
				return "", p.fail()
			}
			esc := s[i+1]
			i += 2
			switch esc {
			case '"', '\\', '/':
				sb.WriteByte(esc)
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				r, ok := hex4(s, i)
				if !ok {
					p.i = i
					return "", p.fail()
				}
				i += 4
				if utf16IsSurrogate(r) {
					// Go strings cannot hold a lone surrogate; it becomes U+FFFD.
					r2, ok := rune(-1), false
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2, ok = hex4(s, i+2)
					}
					if ok && r < 0xdc00 && r2 >= 0xdc00 && r2 < 0xe000 {
						r = 0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00)
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				sb.WriteRune(r)
			default:
				p.i = i - 1
				return "", p.fail()
			}
		case c < utf8.RuneSelf:
			sb.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				sb.WriteString("\uFFFD")
			} else {
				sb.WriteString(s[i : i+size])
			}
			i += size
		}
	}
	p.i = len(s)
	return "", p.fail()
}

func utf16IsSurrogate(r rune) bool { return r >= 0xd800 && r < 0xe000 }

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number parses a JSON number. Integers of up to 15 digits skip strconv.
func (p *jsonParser) number() (any, error) {
	s := p.s
	start, i := p.i, p.i
	neg := s[i] == '-'
	if neg {
		i++
	}
	var mant uint64
	digits := 0
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			mant = mant*10 + uint64(s[i]-'0')
			digits++
		}
	default:
		p.i = i
		return nil, p.fail()
	}
	simple := true
	if i < len(s) && s[i] == '.' {
		simple = false
		if i = skipDigits(s, i+1); i < 0 {
			p.i = len(s)
			return nil, p.fail()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		simple = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i = skipDigits(s, i); i < 0 {
			p.i = len(s)
			return nil, p.fail()
		}
	}
	p.i = i
	var f float64
	if simple && digits <= 15 {
		if !neg && mant < uint64(len(boxedUints)) {
			return boxedUints[mant], nil
		}
		if f = float64(mant); neg {
			f = -f
		}
	} else {
		var err error
		if f, err = strconv.ParseFloat(s[start:i], 64); err != nil {
			// Only overflow gets here; JSON.parse would say Infinity, which JSON cannot
			// carry back, so refuse it.
			return nil, errf("number out of range at offset %d", start)
		}
	}
	if p.measure {
		return nil, p.spend(costNumber)
	}
	return f, p.spend(costNumber)
}

// skipDigits skips one or more digits; it returns -1 when there is none.
func skipDigits(s string, i int) int {
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// boxedUints holds 0..255 as float64 in interfaces, so small numbers (types, ids, counters)
// cost no allocation.
var boxedUints = func() (b [256]any) {
	for i := range b {
		b[i] = float64(i)
	}
	return b
}()

func boxUint(n uint64) any {
	if n < uint64(len(boxedUints)) {
		return boxedUints[n]
	}
	return float64(n)
}

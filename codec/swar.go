package codec

// Word-at-a-time scanning: most JSON strings and polling payloads are plain ASCII, so
// testing 8 bytes per step pays off on anything longer than a key.

const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// plainJSON8 reports whether none of the 8 bytes of w needs attention inside a JSON
// string: no control byte, quote, backslash or non-ASCII byte. (Borrows only start at a
// byte that matches, so the test has no false negatives and, as a whole, no false
// positives.)
func plainJSON8(w uint64) bool {
	q := w ^ (swarLo * '"')
	bs := w ^ (swarLo * '\\')
	return ((w-swarLo*0x20)&^w|(q-swarLo)&^q|(bs-swarLo)&^bs|w)&swarHi == 0
}

// skipPlainJSON returns the index of the first byte at or after i that is not plain.
func skipPlainJSON(s string, i int) int {
	for i+8 <= len(s) && plainJSON8(load64(s, i)) {
		i += 8
	}
	return i
}

// asciiPrefix is the number of leading ASCII bytes of b.
func asciiPrefix(b []byte) int {
	i := 0
	for i+8 <= len(b) && load64(string(b[i:i+8]), 0)&swarHi == 0 {
		i += 8
	}
	for i < len(b) && b[i] < 0x80 {
		i++
	}
	return i
}

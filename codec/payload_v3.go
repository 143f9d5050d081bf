package codec

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// Engine.IO v3 polling payloads (engine.io-parser 2.x).
//
// String payloads frame each packet as "<len>:<packet>" where len is the JavaScript string
// length (UTF-16 code units). Binary (XHR2) payloads frame each packet as a kind byte (0
// string, 1 binary), the decimal digits of the byte length as raw values 0-9, then 0xff.

// maxLenDigits bounds a length prefix; no real payload is near 10^10 bytes.
const maxLenDigits = 10

// AppendV3Payload appends a v3 string payload: "<len>:<packet>" with len counted in UTF-16
// code units; binary packets as "b4"+base64.
func AppendV3Payload(dst []byte, pkts []EPacket) []byte {
	if len(pkts) == 0 {
		return append(dst, "0:"...) // what engine.io-parser 2.x sends for no packets
	}
	n := 0
	for _, p := range pkts {
		n += maxLenDigits + 2 + textLen(p)
	}
	dst = grow(dst, n)
	for _, p := range pkts {
		if p.Binary {
			n := 2 + base64.StdEncoding.EncodedLen(len(p.Data))
			dst = strconv.AppendInt(dst, int64(n), 10)
			dst = append(dst, ':', 'b', '0'+byte(p.Type))
			dst = base64.StdEncoding.AppendEncode(dst, p.Data)
			continue
		}
		dst = strconv.AppendInt(dst, int64(1+utf16Len(p.Data)), 10)
		dst = append(dst, ':', '0'+byte(p.Type))
		dst = append(dst, p.Data...)
	}
	return dst
}

// AppendV3BinaryPayload appends a v3 binary (XHR2) payload: 0x00|0x01, length digits as
// bytes, 0xff, packet.
func AppendV3BinaryPayload(dst []byte, pkts []EPacket) []byte {
	n := 0
	for _, p := range pkts {
		n += maxLenDigits + 3 + len(p.Data)
	}
	dst = grow(dst, n)
	var digits [20]byte
	for _, p := range pkts {
		kind, typ := byte(0), '0'+byte(p.Type)
		if p.Binary {
			kind, typ = 1, byte(p.Type)
		}
		dst = append(dst, kind)
		for _, d := range strconv.AppendInt(digits[:0], int64(1+len(p.Data)), 10) {
			dst = append(dst, d-'0')
		}
		dst = append(dst, 0xff, typ)
		dst = append(dst, p.Data...)
	}
	return dst
}

// DecodeV3Payload decodes a v3 polling body; binary selects the XHR2 binary format
// (Content-Type application/octet-stream). Data slices share one fresh backing array.
func DecodeV3Payload(body []byte, binary bool) ([]EPacket, error) {
	pkts := make([]EPacket, 0, 8)
	if err := EachV3Packet(body, binary, func(p EPacket) bool { pkts = append(pkts, p); return true }); err != nil {
		return nil, err
	}
	return pkts, nil
}

// EachV3Packet decodes a v3 polling body as DecodeV3Payload does, a packet at a time: fn
// gets each, in order, until it returns false. A body of many small packets then costs no
// slice of them (a megabyte of pings would take 13 MB). On a malformed packet it returns
// the error, fn having seen the packets before it, as engine.io handles them.
func EachV3Packet(body []byte, binary bool, fn func(EPacket) bool) error {
	if len(body) == 0 {
		return ErrBadPayload
	}
	if binary {
		return eachV3Binary(body, fn)
	}
	return eachV3String(body, fn)
}

func eachV3String(body []byte, fn func(EPacket) bool) error {
	arena := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		n, next, ok := lenPrefix(body, i, ':', '0')
		if !ok {
			return ErrBadPayload
		}
		start := next
		end, ok := skipUTF16(body, start, n)
		if !ok {
			return ErrBadPayload
		}
		i = end
		if n == 0 {
			continue // engine.io-parser skips empty packets ("0:")
		}
		p, err := decodeV3Text(&arena, body[start:end])
		if err != nil {
			return err
		}
		if !fn(p) {
			return nil
		}
	}
	return nil
}

func eachV3Binary(body []byte, fn func(EPacket) bool) error {
	arena := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		kind := body[i]
		if kind > 1 {
			return ErrBadPayload
		}
		n, next, ok := lenPrefix(body, i+1, 0xff, 0)
		if !ok || n == 0 || n > len(body)-next {
			return ErrBadPayload
		}
		part := body[next : next+n]
		i = next + n
		var p EPacket
		if kind == 0 {
			var err error
			if p, err = decodeV3Text(&arena, part); err != nil {
				return err
			}
		} else {
			if part[0] > byte(ENoop) {
				return ErrBadPacketType
			}
			p = EPacket{Type: EType(part[0]), Binary: true}
			if len(part) > 1 {
				start := len(arena)
				arena = append(arena, part[1:]...)
				p.Data = arena[start:len(arena):len(arena)]
			}
		}
		if !fn(p) {
			return nil
		}
	}
	return nil
}

// decodeV3Text decodes a packet of a v3 payload; "b<type><base64>" is a binary packet.
func decodeV3Text(arena *[]byte, b []byte) (EPacket, error) {
	if len(b) == 0 || b[0] != 'b' {
		return decodeTextInto(arena, b)
	}
	if len(b) < 2 {
		return EPacket{}, ErrBadPayload
	}
	t, err := textType(b[1])
	if err != nil {
		return EPacket{}, err
	}
	a := *arena
	start := len(a)
	if a, err = appendBase64(a, b[2:]); err != nil {
		return EPacket{}, err
	}
	p := EPacket{Type: t, Binary: true}
	if len(a) > start {
		p.Data = a[start:len(a):len(a)]
	}
	*arena = a
	return p, nil
}

// lenPrefix reads the decimal length at b[i:] up to the terminator; digits are offset by
// zero ('0' for ASCII digits, 0 for raw values). It returns the length and the index after
// the terminator.
func lenPrefix(b []byte, i int, term, zero byte) (n, next int, ok bool) {
	digits := 0
	for ; i < len(b); i++ {
		c := b[i]
		if c == term {
			return n, i + 1, digits > 0
		}
		d := c - zero
		if d > 9 || digits == maxLenDigits {
			return 0, 0, false
		}
		n = n*10 + int(d)
		digits++
	}
	return 0, 0, false
}

// skipUTF16 returns the index n UTF-16 code units after b[i:]. An invalid byte counts as one
// unit, as it decodes to U+FFFD in JavaScript.
func skipUTF16(b []byte, i, n int) (int, bool) {
	units := 0
	for units < n && i < len(b) {
		if b[i] < utf8.RuneSelf {
			k := asciiPrefix(b[i:min(len(b), i+n-units)])
			i += k
			units += k
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		i += size
		units += utf16Units(r)
	}
	return i, units == n
}

// utf16Len is the JavaScript length of the UTF-8 text b.
func utf16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			k := asciiPrefix(b[i:])
			i += k
			n += k
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		i += size
		n += utf16Units(r)
	}
	return n
}

func utf16Units(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

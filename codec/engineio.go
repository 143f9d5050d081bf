package codec

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// EType is an Engine.IO packet type.
type EType byte

// Engine.IO packet types; the text encoding is the digit '0'+type.
const (
	EOpen EType = iota
	EClose
	EPing
	EPong
	EMessage
	EUpgrade
	ENoop
)

// EPacket is one Engine.IO packet. Binary marks a message whose data is binary.
type EPacket struct {
	Type   EType
	Data   []byte
	Binary bool
}

// Errors returned by the Engine.IO decoders.
var (
	ErrEmptyPacket   = errors.New("codec: empty engine.io packet")
	ErrBadPacketType = errors.New("codec: unknown engine.io packet type")
	ErrBadPayload    = errors.New("codec: malformed polling payload")
)

// recordSeparator joins the packets of a v4 polling payload.
const recordSeparator = 0x1e

// Decoded packets never alias the input (servers reuse their read buffers): each decoder
// copies what it keeps into one fresh arena, so a payload costs one data allocation.

// DecodeText decodes a text WebSocket frame or one part of a polling payload ("4hello").
// In a v4 payload a part that starts with 'b' is a base64 binary message.
// Data is a copy; it is nil when the packet has no data.
func DecodeText(b []byte) (EPacket, error) {
	var arena []byte
	return decodeTextInto(&arena, b)
}

// ParseText is DecodeText without the copy: Data of a text packet aliases b. Use it when b
// outlives the packet, or when Data goes straight into a decoder that copies (JSONDecoder).
func ParseText(b []byte) (EPacket, error) {
	if len(b) == 0 || b[0] == 'b' {
		return DecodeText(b)
	}
	t, err := textType(b[0])
	if err != nil {
		return EPacket{}, err
	}
	p := EPacket{Type: t}
	if len(b) > 1 {
		p.Data = b[1:]
	}
	return p, nil
}

// decodeTextInto decodes one text packet and appends its data to *arena. Data is capped so
// appending to it cannot clobber a neighbour.
func decodeTextInto(arena *[]byte, b []byte) (EPacket, error) {
	if len(b) == 0 {
		return EPacket{}, ErrEmptyPacket
	}
	a := *arena
	start := len(a)
	var p EPacket
	if b[0] == 'b' {
		var err error
		if a, err = appendBase64(a, b[1:]); err != nil {
			return EPacket{}, err
		}
		p = EPacket{Type: EMessage, Binary: true}
	} else {
		t, err := textType(b[0])
		if err != nil {
			return EPacket{}, err
		}
		p.Type = t
		a = append(a, b[1:]...)
	}
	if len(a) > start {
		p.Data = a[start:len(a):len(a)]
	}
	*arena = a
	return p, nil
}

// DecodeBinaryV3 decodes a binary WebSocket frame in Engine.IO v3 (first byte is the type).
// In v4 a binary frame is a message as it stands: EPacket{Type: EMessage, Data: b, Binary: true}.
// Data is a copy.
func DecodeBinaryV3(b []byte) (EPacket, error) {
	if len(b) == 0 {
		return EPacket{}, ErrEmptyPacket
	}
	if b[0] > byte(ENoop) {
		return EPacket{}, ErrBadPacketType
	}
	return EPacket{Type: EType(b[0]), Data: append([]byte{}, b[1:]...), Binary: true}, nil
}

// AppendBinaryV3 appends the v3 binary WebSocket frame of p: the type byte, then Data.
func AppendBinaryV3(dst []byte, p EPacket) []byte {
	return append(append(dst, byte(p.Type)), p.Data...)
}

// AppendText appends the text form of p ("4hello"); a binary p is written as "b"+base64
// (v4 polling). Use for WebSocket text frames and for v4 payload parts.
func AppendText(dst []byte, p EPacket) []byte {
	if p.Binary {
		return base64.StdEncoding.AppendEncode(append(dst, 'b'), p.Data)
	}
	return append(append(dst, '0'+byte(p.Type)), p.Data...)
}

// textLen is the length of AppendText's output.
func textLen(p EPacket) int {
	if p.Binary {
		return 1 + base64.StdEncoding.EncodedLen(len(p.Data))
	}
	return 1 + len(p.Data)
}

// AppendV4Payload appends packets joined by the record separator 0x1e.
func AppendV4Payload(dst []byte, pkts []EPacket) []byte {
	n := 0
	for _, p := range pkts {
		n += textLen(p) + 1
	}
	dst = grow(dst, n)
	for i, p := range pkts {
		if i > 0 {
			dst = append(dst, recordSeparator)
		}
		dst = AppendText(dst, p)
	}
	return dst
}

// DecodeV4Payload splits a v4 polling body into packets. Data slices share one fresh
// backing array.
func DecodeV4Payload(body []byte) ([]EPacket, error) {
	pkts := make([]EPacket, 0, 1+bytes.Count(body, []byte{recordSeparator}))
	if err := EachV4Packet(body, func(p EPacket) bool { pkts = append(pkts, p); return true }); err != nil {
		return nil, err
	}
	return pkts, nil
}

// EachV4Packet decodes a v4 polling body as DecodeV4Payload does, a packet at a time: fn
// gets each, in order, until it returns false. A body of many small packets then costs no
// slice of them (a megabyte of pings would take 20 MB). On a malformed packet it returns
// the error, fn having seen the packets before it, as engine.io handles them.
func EachV4Packet(body []byte, fn func(EPacket) bool) error {
	if len(body) == 0 {
		return ErrBadPayload
	}
	// Decoded base64 is never longer than its text, so the arena never moves.
	arena := make([]byte, 0, len(body))
	for {
		part, rest, more := bytes.Cut(body, []byte{recordSeparator})
		p, err := decodeTextInto(&arena, part)
		if err != nil {
			return err
		}
		if !fn(p) || !more {
			return nil
		}
		body = rest
	}
}

func textType(c byte) (EType, error) {
	if c < '0' || c > '0'+byte(ENoop) {
		return 0, ErrBadPacketType
	}
	return EType(c - '0'), nil
}

func appendBase64(dst, src []byte) ([]byte, error) {
	out, err := base64.StdEncoding.AppendDecode(dst, src)
	if err != nil {
		return dst, ErrBadPayload
	}
	return out, nil
}

// grow makes room for n more bytes in one allocation.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		nd := make([]byte, len(dst), len(dst)+n)
		copy(nd, dst)
		dst = nd
	}
	return dst
}

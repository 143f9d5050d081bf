package bench

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
)

// Fast paths over received packets: the event name and the send timestamp of new-message
// are found without decoding the packet. Anything these do not recognise goes to the full
// decoders, so they only have to be right when they say yes.

var (
	jsonContentMarker = []byte(`"content":"` + tsPrefix)
	// msgpack: the key "content" (fixstr 7), then a fixstr of 21 bytes ("t:" + 19 digits).
	mpContentMarker = append([]byte{0xa7, 'c', 'o', 'n', 't', 'e', 'n', 't', 0xa0 | byte(len(tsPrefix)+tsDigits)}, tsPrefix...)
)

// user-typing with isTyping false needs no decoding: only starts are measured.
var (
	jsonTypingOff = []byte(`"isTyping":false`)
	mpTypingOff   = []byte{0xa8, 'i', 's', 'T', 'y', 'p', 'i', 'n', 'g', 0xc2}
)

// jsonEventName returns the name of a JSON EVENT packet to "/" without an ack id
// (`2["name",...`), as the server sends broadcasts.
func jsonEventName(b []byte) ([]byte, bool) {
	if len(b) < 4 || b[0] != '2' || b[1] != '[' || b[2] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(b[3:], '"')
	if end < 0 {
		return nil, false
	}
	name := b[3 : 3+end]
	if bytes.IndexByte(name, '\\') >= 0 {
		return nil, false
	}
	return name, true
}

// jsonContentTS finds the timestamp of a new-message JSON packet.
func jsonContentTS(b []byte) (int64, bool) {
	i := bytes.Index(b, jsonContentMarker)
	if i < 0 {
		return 0, false
	}
	rest := b[i+len(jsonContentMarker):]
	if len(rest) <= tsDigits || rest[tsDigits] != '"' {
		return 0, false
	}
	return parseDigits(rest)
}

// mpContentTS finds the timestamp of a new-message msgpack packet.
func mpContentTS(b []byte) (int64, bool) {
	i := bytes.Index(b, mpContentMarker)
	if i < 0 {
		return 0, false
	}
	return parseDigits(b[i+len(mpContentMarker):])
}

// mpEventName returns the event name of a msgpack packet {type, nsp, data, id?} whose data
// is an array starting with a string: only EVENT packets look like that (an ACK's data
// starts with the answer, CONNECT's is a map). It walks the map's keys in any order,
// skipping the scalar values of the other keys; anything unexpected is a no.
func mpEventName(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	var n, i int
	switch c := b[0]; {
	case c&0xf0 == 0x80:
		n, i = int(c&0x0f), 1
	case c == 0xde && len(b) >= 3:
		n, i = int(binary.BigEndian.Uint16(b[1:])), 3
	default:
		return nil, false
	}
	for ; n > 0; n-- {
		key, next, ok := mpStr(b, i)
		if !ok {
			return nil, false
		}
		i = next
		if string(key) == "data" {
			if i >= len(b) {
				return nil, false
			}
			switch c := b[i]; {
			case c&0xf0 == 0x90 && c != 0x90:
				i++
			case c == 0xdc && len(b) >= i+3:
				i += 3
			case c == 0xdd && len(b) >= i+5:
				i += 5
			default:
				return nil, false
			}
			name, _, ok := mpStr(b, i)
			return name, ok
		}
		if i, ok = mpSkipScalar(b, i); !ok {
			return nil, false
		}
	}
	return nil, false
}

// mpStr reads a msgpack string at b[i]: its bytes and the index after it.
func mpStr(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) {
		return nil, 0, false
	}
	var n, h int
	switch c := b[i]; {
	case c&0xe0 == 0xa0:
		n, h = int(c&0x1f), 1
	case c == 0xd9 && len(b) > i+1:
		n, h = int(b[i+1]), 2
	case c == 0xda && len(b) > i+2:
		n, h = int(binary.BigEndian.Uint16(b[i+1:])), 3
	case c == 0xdb && len(b) > i+4:
		n, h = int(binary.BigEndian.Uint32(b[i+1:])), 5
	default:
		return nil, 0, false
	}
	end := i + h + n
	if n < 0 || end > len(b) {
		return nil, 0, false
	}
	return b[i+h : end], end, true
}

// mpSkipScalar skips a msgpack number, nil, bool or string at b[i].
func mpSkipScalar(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	c := b[i]
	var w int
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		w = 1
	case c == 0xcc || c == 0xd0:
		w = 2
	case c == 0xcd || c == 0xd1:
		w = 3
	case c == 0xce || c == 0xd2 || c == 0xca:
		w = 5
	case c == 0xcf || c == 0xd3 || c == 0xcb:
		w = 9
	default:
		_, next, ok := mpStr(b, i)
		return next, ok
	}
	if i+w > len(b) {
		return 0, false
	}
	return i + w, true
}

// userIndex reads the connection index out of a user id "bench-<i>".
func userIndex(id string) (int, bool) {
	s, ok := strings.CutPrefix(id, "bench-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

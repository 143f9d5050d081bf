package bench

import (
	"bytes"
	"errors"
	"strconv"

	"edgeio/codec"
)

// A message's content is "t:" and tsDigits digits: the send time, in nanoseconds since the
// run started, zero-padded so that the packet's length never changes.
const (
	tsPrefix = "t:"
	tsDigits = 19
)

var tsPlaceholder = tsPrefix + string(bytes.Repeat([]byte{'0'}, tsDigits))

// With --client-msg-id a send carries clientMsgId "c:" and the same digits: unique per
// connection, as a client SDK's ids are per send.
const cmidPrefix = "c:"

var cmidPlaceholder = cmidPrefix + string(bytes.Repeat([]byte{'0'}, tsDigits))

// sendTemplate is one room's send-message packet, pre-encoded, with holes for the ack id
// and the timestamp digits. JSON: "42" <id digits> `["send-message",{...}]`. msgpack: the
// packet map with one more entry than encoded, then "id" as a uint32 (0xce + 4 bytes).
type sendTemplate struct {
	msgpack bool
	pre     []byte // before the ack id
	post    []byte // after the ack id (JSON only)
	tsAt    int    // offset of the digits: in post for JSON, in pre for msgpack and relay
	cmidAt  int    // offset of the clientMsgId's digits, the same way; -1 without
	relay   bool   // the whole packet is pre: no ack id
}

// newSendTemplate encodes send-message {roomId, content, clientMsgId?} for one room.
func newSendTemplate(room string, msgpack, clientMsgID bool) (*sendTemplate, error) {
	payload := map[string]any{"roomId": room, "content": tsPlaceholder}
	if clientMsgID {
		payload["clientMsgId"] = cmidPlaceholder
	}
	p := &codec.SPacket{Type: codec.SEvent, Nsp: "/", ID: codec.NoID, Data: []any{"send-message", payload}}
	t := &sendTemplate{msgpack: msgpack, cmidAt: -1}
	if msgpack {
		b, err := codec.EncodeMsgpack(nil, p)
		if err != nil {
			return nil, err
		}
		if b[0] != 0x83 { // fixmap {type, nsp, data}
			return nil, errors.New("bench: unexpected msgpack packet header")
		}
		b[0] = 0x84 // one more entry: id
		t.pre = append(b, 0xa2, 'i', 'd', 0xce)
		t.tsAt = bytes.Index(t.pre, []byte(tsPlaceholder))
		if clientMsgID {
			t.cmidAt = bytes.Index(t.pre, []byte(cmidPlaceholder)) + len(cmidPrefix)
		}
	} else {
		b, _, err := codec.EncodeJSON(nil, p)
		if err != nil {
			return nil, err
		}
		if len(b) < 2 || b[0] != '2' || b[1] != '[' {
			return nil, errors.New("bench: unexpected JSON packet")
		}
		t.pre = []byte{'4', '2'}
		t.post = b[1:]
		t.tsAt = bytes.Index(t.post, []byte(tsPlaceholder))
		if clientMsgID {
			t.cmidAt = bytes.Index(t.post, []byte(cmidPlaceholder)) + len(cmidPrefix)
		}
	}
	if t.tsAt < 0 {
		return nil, errors.New("bench: timestamp placeholder not found")
	}
	t.tsAt += len(tsPrefix)
	return t, nil
}

// newRelayTemplate encodes what a chat server would deliver for one room, new-message with
// a MessagePayload of the usual size, for the relay to pass on as it is: the relay run
// moves the same bytes as a chat run, with no ack id.
func newRelayTemplate(room string, msgpack bool) (*sendTemplate, error) {
	p := &codec.SPacket{Type: codec.SEvent, Nsp: "/", ID: codec.NoID, Data: []any{
		"new-message", map[string]any{
			"id": "0000000000000000000000", "roomId": room, "userId": "bench-00000", "username": "bench-00000",
			"content": tsPlaceholder, "createdAt": "2026-01-01T00:00:00.000Z",
		},
	}}
	b, err := encodePacket(msgpack, p)
	if err != nil {
		return nil, err
	}
	t := &sendTemplate{msgpack: msgpack, relay: true, pre: b, tsAt: bytes.Index(b, []byte(tsPlaceholder)), cmidAt: -1}
	if t.tsAt < 0 {
		return nil, errors.New("bench: timestamp placeholder not found")
	}
	t.tsAt += len(tsPrefix)
	return t, nil
}

// append writes the packet with ack id and timestamp ts to dst (reused by the caller, so
// that a send allocates nothing once dst has grown).
func (t *sendTemplate) append(dst []byte, id uint32, ts int64) []byte {
	start := len(dst)
	dst = append(dst, t.pre...)
	if t.relay {
		putDigits(dst[start+t.tsAt:start+t.tsAt+tsDigits], ts)
		return dst
	}
	base := start // where the offsets count from
	if t.msgpack {
		dst = append(dst, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	} else {
		dst = strconv.AppendUint(dst, uint64(id), 10)
		base = len(dst)
		dst = append(dst, t.post...)
	}
	putDigits(dst[base+t.tsAt:base+t.tsAt+tsDigits], ts)
	if t.cmidAt >= 0 {
		putDigits(dst[base+t.cmidAt:base+t.cmidAt+tsDigits], ts)
	}
	return dst
}

// putDigits writes v as len(b) decimal digits, zero-padded (v must fit).
func putDigits(b []byte, v int64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// parseDigits reads exactly tsDigits decimal digits from the front of b.
func parseDigits(b []byte) (int64, bool) {
	if len(b) < tsDigits {
		return 0, false
	}
	var v int64
	for _, c := range b[:tsDigits] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// encodeEvent encodes an EVENT to "/" as the transport writes it: JSON with the Engine.IO
// message type in front ("42..."), msgpack as the bare packet. id is codec.NoID for none.
func encodeEvent(msgpack bool, id int64, args ...any) ([]byte, error) {
	return encodePacket(msgpack, &codec.SPacket{Type: codec.SEvent, Nsp: "/", ID: id, Data: args})
}

// encodeConnect encodes CONNECT to "/" with auth {token}, and recovery: true when the
// client asks for connection state recovery.
func encodeConnect(msgpack bool, token string, recovery bool) ([]byte, error) {
	auth := map[string]any{"token": token}
	if recovery {
		auth["recovery"] = true
	}
	return encodePacket(msgpack, &codec.SPacket{Type: codec.SConnect, Nsp: "/", ID: codec.NoID, Data: auth})
}

func encodePacket(msgpack bool, p *codec.SPacket) ([]byte, error) {
	if msgpack {
		return codec.EncodeMsgpack(nil, p)
	}
	b, _, err := codec.EncodeJSON([]byte{'4'}, p)
	return b, err
}

// Package codectest builds wire data the way clients do, for tests of the decoders and of
// the servers that use them.
package codectest

import "encoding/binary"

// MaskedFrame is a WebSocket frame as a browser sends it: first byte b0 (FIN, RSV bits
// and opcode), the payload masked with key.
func MaskedFrame(b0 byte, payload []byte, key [4]byte) []byte {
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

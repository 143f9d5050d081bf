package engine

import (
	"bytes"
	"encoding/binary"
	"sync"

	"edgeio/codec"

	"github.com/klauspost/compress/flate"
)

// WebSocket frames are built here rather than by gws so that a connection's queued frames
// go out in one writev (gws writes each on its own: a system call per message), and so that
// a broadcast's frames, compressed or not, are built once for every connection.

const (
	opText   = 0x1
	opBinary = 0x2
	finBit   = 0x80
	rsv1Bit  = 0x40 // permessage-deflate: the payload is compressed
)

// appendFrame appends one unmasked server frame.
func appendFrame(dst []byte, opcode byte, payload []byte, compressed bool) []byte {
	b0 := finBit | opcode
	if compressed {
		b0 |= rsv1Bit
	}
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, b0, byte(n))
	case n <= 0xffff:
		dst = append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// deflate compresses p as one permessage-deflate message without context takeover: the
// sync-flushed stream without its final empty block marker.
func deflate(p []byte) []byte {
	var buf bytes.Buffer
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&buf)
	_, _ = w.Write(p)
	_ = w.Flush()
	deflaters.Put(w)
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// appendPacketFrame appends p as a frame for a connection of the given protocol,
// compressed when the connection deflates and the payload is at least threshold bytes.
func appendPacketFrame(dst []byte, protocol int, p codec.EPacket, deflates bool, threshold int) []byte {
	op, payload := byte(opText), []byte(nil)
	switch {
	case p.Binary && protocol == 4:
		op, payload = opBinary, p.Data
	case p.Binary:
		op, payload = opBinary, codec.AppendBinaryV3(nil, p)
	default:
		payload = codec.AppendText(nil, p)
	}
	if deflates && len(payload) >= threshold {
		return appendFrame(dst, op, deflate(payload), true)
	}
	return appendFrame(dst, op, payload, false)
}

package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// WebSocket frames from clients (RFC 6455 §5), decoded as bytes arrive so that a
// connection needs no reader goroutine and no buffer while it is idle: an event loop
// reads into a shared buffer and feeds a connection's WSDecoder, which keeps only an
// unfinished frame or message.

// WebSocket opcodes.
const (
	WSContinuation = 0x0
	WSText         = 0x1
	WSBinary       = 0x2
	WSClose        = 0x8
	WSPing         = 0x9
	WSPong         = 0xA
)

// Errors a WSDecoder reports; the connection is then closed with the close code the
// protocol asks for.
var (
	ErrWSProtocol = errors.New("websocket: protocol error")    // close code 1002
	ErrWSTooLarge = errors.New("websocket: message too large") // close code 1009
)

// WSDecoder reassembles a client's messages. The zero value accepts no compression and
// no size limit; set MaxMessage and Deflate before the first Feed.
type WSDecoder struct {
	MaxMessage int  // largest message, fragments together; 0 means no limit
	Deflate    bool // permessage-deflate was negotiated: RSV1 marks a compressed message
	FromServer bool // a client's decoder: frames come unmasked
	// Alloc returns an empty buffer with room for n bytes, for a frame that arrives over
	// several reads (its payload is then emitted as owned); nil makes one.
	Alloc func(n int) []byte

	partial    []byte // the start of a frame that has not fully arrived
	message    []byte // the fragments of an unfinished message
	messageOp  byte   // its opcode, 0 when no message is open
	compressed bool   // its first frame had RSV1 set
}

// WSEmit receives one control frame or one whole data message. payload is only valid
// during the call unless owned: a message that arrived over several reads (or fragments)
// was gathered in a buffer of the decoder's, which it then gives up, and the callee may
// keep it instead of copying it. compressed reports a permessage-deflate payload still to
// inflate.
type WSEmit func(opcode byte, payload []byte, compressed, owned bool) error

// Feed decodes data, which it may modify (payloads are unmasked in place), and calls emit
// for each frame or message completed by it. An error from emit stops decoding and is
// returned; after any error the decoder must not be fed again.
func (d *WSDecoder) Feed(data []byte, emit WSEmit) error {
	if len(d.partial) > 0 {
		rest, done, err := d.completePartial(data)
		if err != nil || !done {
			return err
		}
		frame := d.partial
		d.partial = nil
		if _, err := d.frame(frame, emit, true); err != nil {
			return err
		}
		data = rest
	}
	for len(data) > 0 {
		n, err := d.frame(data, emit, false)
		if err != nil {
			return err
		}
		if n == 0 { // keep the incomplete rest, sized for the whole frame when known
			need, _ := d.frameLen(data)
			if d.Alloc != nil {
				d.partial = append(d.Alloc(max(need, 14)), data...)
			} else {
				d.partial = append(make([]byte, 0, max(need, 14)), data...)
			}
			return nil
		}
		data = data[n:]
	}
	return nil
}

// completePartial moves into d.partial what data holds of the pending frame, never more,
// and reports whether the frame is now whole; rest is what data holds after it.
func (d *WSDecoder) completePartial(data []byte) (rest []byte, done bool, err error) {
	for {
		want := 2
		if len(d.partial) >= 2 {
			want = headerLen(d.partial)
			need, err := d.frameLen(d.partial) // reports a bad length as soon as it is known
			if err != nil {
				return nil, false, err
			}
			if len(d.partial) >= want {
				want = need
			}
		}
		if len(d.partial) == want {
			return data, true, nil
		}
		if len(data) == 0 {
			return nil, false, nil
		}
		take := min(want-len(d.partial), len(data))
		d.partial = append(d.partial, data[:take]...)
		data = data[take:]
	}
}

// frameLen returns the whole length of the frame b starts with, -1 when b does not hold
// its header yet.
func (d *WSDecoder) frameLen(b []byte) (int, error) {
	if len(b) < 2 {
		return -1, nil
	}
	n, size := int(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return -1, nil
		}
		n, size = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return -1, nil
		}
		v := binary.BigEndian.Uint64(b[2:])
		if v>>63 != 0 {
			return 0, ErrWSProtocol
		}
		if v > 1<<40 || d.MaxMessage > 0 && v > uint64(d.MaxMessage) {
			return 0, ErrWSTooLarge
		}
		n, size = int(v), 10
	}
	masked := b[1]&0x80 != 0
	if masked == d.FromServer {
		return 0, ErrWSProtocol // a client masks every frame, a server none
	}
	if d.MaxMessage > 0 && b[0]&0x08 == 0 && len(d.message)+n > d.MaxMessage {
		return 0, ErrWSTooLarge
	}
	if masked {
		size += 4
	}
	return size + n, nil
}

// frame decodes the frame b starts with and returns its length, 0 when it is incomplete;
// owned says b is the decoder's to give up.
func (d *WSDecoder) frame(b []byte, emit WSEmit, owned bool) (int, error) {
	total, err := d.frameLen(b)
	if err != nil {
		return 0, err
	}
	if total < 0 || len(b) < total {
		return 0, nil
	}
	fin, rsv1, op := b[0]&0x80 != 0, b[0]&0x40 != 0, b[0]&0x0f
	if b[0]&0x30 != 0 || rsv1 && (!d.Deflate || op == WSContinuation || op >= WSClose) {
		return 0, ErrWSProtocol
	}
	hl := headerLen(b)
	payload := b[hl:total]
	if b[1]&0x80 != 0 {
		unmask(payload, b[hl-4:hl])
	}

	switch op {
	case WSClose, WSPing, WSPong:
		if !fin || len(payload) > 125 {
			return 0, ErrWSProtocol
		}
		return total, emit(op, payload, false, false)
	case WSText, WSBinary:
		if d.messageOp != 0 {
			return 0, ErrWSProtocol // a new message inside a fragmented one
		}
		if fin {
			return total, emit(op, payload, rsv1, owned)
		}
		d.messageOp, d.compressed = op, rsv1
		d.message = append(make([]byte, 0, len(payload)*2), payload...)
		return total, nil
	case WSContinuation:
		if d.messageOp == 0 {
			return 0, ErrWSProtocol
		}
		d.message = append(d.message, payload...)
		if !fin {
			return total, nil
		}
		msg, msgOp, compressed := d.message, d.messageOp, d.compressed
		d.message, d.messageOp, d.compressed = nil, 0, false
		return total, emit(msgOp, msg, compressed, true)
	}
	return 0, ErrWSProtocol // reserved opcodes
}

// headerLen is the length of a complete header, masking key included.
func headerLen(b []byte) int {
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n = 4
	case 127:
		n = 10
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

func unmask(p, key []byte) {
	k := binary.LittleEndian.Uint32(key)
	k64 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k64)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// Buffered reports whether the decoder holds part of a frame or message, which costs
// memory until the rest arrives.
func (d *WSDecoder) Buffered() int { return len(d.partial) + len(d.message) }

var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// deflateTail ends a permessage-deflate message's stream (RFC 7692 §7.2.2) with an empty
// final block, so that the reader sees where it ends.
var deflateTail = []byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

// WSInflate decompresses one permessage-deflate message sent without context takeover,
// refusing a result over limit bytes (ErrWSTooLarge).
func WSInflate(p []byte, limit int) ([]byte, error) {
	fr := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(fr)
	_ = fr.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail)), nil)
	out, err := io.ReadAll(io.LimitReader(fr, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, ErrWSTooLarge
	}
	return out, nil
}

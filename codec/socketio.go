package codec

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// SType is a Socket.IO packet type.
type SType byte

// Socket.IO v5 packet types.
const (
	SConnect SType = iota
	SDisconnect
	SEvent
	SAck
	SConnectError
	SBinaryEvent
	SBinaryAck
)

// NoID marks a packet without an ack id.
const NoID int64 = -1

// MaxAttachments is the most binary attachments one packet may carry.
const MaxAttachments = 10

// SPacket is one Socket.IO packet. For EVENT and ACK, Data is []any (an EVENT's first element
// is the event name); for CONNECT, the auth object or nil; for CONNECT_ERROR, {message, data}.
// Nsp is "/" when the wire leaves it out.
type SPacket struct {
	Type SType
	Nsp  string
	ID   int64
	Data any
}

// Errors returned by the Socket.IO decoders.
var (
	ErrBadSocketPacket   = errors.New("codec: malformed socket.io packet")
	ErrTooManyAttachment = errors.New("codec: too many binary attachments")
	ErrUnexpectedBinary  = errors.New("codec: binary attachment without a binary packet")
)

// maxDepth bounds nesting in decoded and encoded data (as encoding/json does), so hostile
// input cannot exhaust the stack and a cyclic value fails instead of recursing forever.
const maxDepth = 10000

// maxAckID is the largest ack id decoders take: beyond 2^53 JavaScript numbers are inexact.
const maxAckID = 1<<53 - 1

// errf wraps ErrBadSocketPacket with a detail.
func errf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadSocketPacket}, args...)...)
}

// isReservedEvent reports names a client may not emit; socket.io-parser rejects them so a
// peer cannot fake "disconnect" and the like.
func isReservedEvent(name string) bool {
	switch name {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}

// checkData applies the data rules both parsers share; present says whether the packet
// carried data at all.
func checkData(t SType, data any, present bool) error {
	ok := false
	switch t {
	case SConnect:
		_, isMap := data.(map[string]any)
		ok = !present || isMap
	case SDisconnect:
		ok = !present
	case SConnectError:
		switch data.(type) {
		case string, map[string]any:
			ok = present
		}
	case SEvent, SBinaryEvent:
		if args, isArr := data.([]any); isArr && len(args) > 0 {
			name, isStr := args[0].(string)
			ok = isStr && !isReservedEvent(name)
		}
	case SAck, SBinaryAck:
		_, ok = data.([]any)
	}
	if !ok {
		return errf("invalid data for packet type %d", t)
	}
	return nil
}

// fixUTF8 replaces each invalid byte with U+FFFD, as a JavaScript TextDecoder would, so
// every decoded string can be re-encoded into a valid text frame.
func fixUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			sb.WriteString("\uFFFD")
		} else {
			sb.WriteString(s[i : i+size])
		}
		i += size
	}
	return sb.String()
}

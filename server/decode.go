package server

import (
	"context"
	"fmt"

	"edgeio/codec"
	"edgeio/server/engine"

	"golang.org/x/sync/semaphore"
)

// Decoding bounds. Each packet has a decode budget (codec/budget.go, Options.DecodeBudget):
// decoding it allocates its budget and a copy of it at most, refusing it nothing. That
// bounds one packet, not twenty connections decoding packets of --max-payload at once,
// each allowed 9 MB and a core's time: so large packets also take turns, process-wide
// (Options.MaxDecoding; by default one at a time, which leaves the other cores to everyone
// else). A packet that waits stalls only its own connection, whose reading pauses (TCP
// backpressure, as for any client sending faster than it is served); small packets, all
// of everyday traffic, never wait.

// smallPacket is the largest packet decoded without taking its turn: what such packets can
// allocate at once is bounded by the connections decoding them (576 KiB each at the
// default budget).
const smallPacket = 64 << 10

// decodeGate admits large packets to decoding while their bytes in decoding stay within a
// bound; the others wait, first come first served. A nil gate admits all.
type decodeGate struct {
	sem  *semaphore.Weighted
	size int64
}

func newDecodeGate(bytes int) *decodeGate {
	if bytes <= 0 {
		return nil
	}
	return &decodeGate{sem: semaphore.NewWeighted(int64(bytes)), size: int64(bytes)}
}

// enter waits until a packet of n bytes may be decoded; leave(the result) ends its turn.
func (g *decodeGate) enter(n int) int64 {
	if g == nil || n <= smallPacket {
		return 0
	}
	w := min(int64(n), g.size) // a packet larger than the bound decodes alone
	_ = g.sem.Acquire(context.Background(), w)
	return w
}

func (g *decodeGate) leave(w int64) {
	if w > 0 {
		g.sem.Release(w)
	}
}

// decode decodes one message with the connection's parser, within the decode budget and
// the server's bound on bytes in decoding. It returns nil (and no error) for a packet that
// waits for its attachments, and for one whose connection closed while it waited its turn.
func (c *client) decode(data []byte, binary bool) (*codec.SPacket, error) {
	budget := c.srv.opts.DecodeBudget
	v3 := c.sess.Protocol == 3
	if c.parser == parserJSON && binary {
		return c.dec.DecodeBinary(data) // an attachment: copied, not decoded
	}
	if c.parser == parserMsgpack && !binary && !v3 {
		return nil, errTextOnMsgpack
	}
	// A large packet that comes after its connection closed (its inbox, read before the
	// close) is not worth its decoding; nor is one whose connection closed while it waited.
	large := len(data) > smallPacket
	if large && c.isClosed() {
		return nil, nil
	}
	w := c.srv.decoding.enter(len(data))
	defer c.srv.decoding.leave(w)
	if large && c.isClosed() {
		return nil, nil
	}
	switch {
	case c.parser == parserMsgpack && binary:
		return codec.MsgpackDecoder{Budget: budget, V2: v3}.Decode(data)
	case c.parser == parserMsgpack:
		return codec.MsgpackDecoder{Budget: budget}.DecodeText(data) // msgpack parser 2.x: CONNECT, DISCONNECT
	}
	return c.dec.DecodeText(data) // its Budget is set with the client
}

// overBudget refuses a packet over its decode budget. The socket it was for (the
// connection's only one when the packet's header could not be read cheaply) is told why,
// with the namespace's notice (OnOverBudget), through the packet's ack when it asked for
// one; then the connection closes, as for any packet the server cannot decode, but after
// what it was told (a WebSocket closes with 1009, "message too big").
func (c *client) overBudget(e *codec.BudgetError) {
	c.srv.Refused("decode_budget")
	s := c.socketFor(e.Nsp)
	if e.Nsp == "" { // the header was not read
		if all := c.connectedSockets(); len(all) == 1 {
			s = all[0]
		}
	}
	if s != nil {
		if notice := s.Namespace.overBudget.Load(); notice != nil {
			var ack AckFunc
			if e.Type == codec.SEvent && e.ID != codec.NoID {
				ack = s.ackFunc(e.ID)
			}
			perByte := c.srv.opts.DecodeBudget
			if perByte == 0 {
				perByte = codec.DefaultBudget
			}
			(*notice)(s, ack, fmt.Sprintf("packet over the decode budget: its data would take more than %d bytes of memory "+
				"(%d a byte of the packet, plus %d)", e.Limit, perByte, codec.BudgetBase))
		}
	}
	c.sess.Close(engine.ReasonPayloadTooLarge)
}

// OnOverBudget sets how a socket of the namespace is told that a packet it sent was over the
// decode budget, before its connection closes: fn gets the socket, the packet's ack when it
// asked for one (nil otherwise), and a message that names the budget.
func (n *Namespace) OnOverBudget(fn func(s *Socket, ack AckFunc, message string)) *Namespace {
	n.overBudget.Store(&fn)
	return n
}

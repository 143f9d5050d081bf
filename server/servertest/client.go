// Package servertest provides an in-process Socket.IO client for tests: it talks to an
// engine.Server through an attached session, with either parser, and no network.
package servertest

import (
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server/engine"
)

// Client is an in-process Socket.IO client. It is used from one test goroutine.
type Client struct {
	t       testing.TB
	sess    *engine.Session
	msgpack bool
	dec     codec.JSONDecoder
	pending []*codec.SPacket
	nextID  int64
}

// Dial opens a session on eng, speaking msgpack or JSON.
func Dial(t testing.TB, eng *engine.Server, msgpack bool) *Client {
	t.Helper()
	c := &Client{t: t, sess: eng.Attach(4, "127.0.0.1:4000"), msgpack: msgpack}
	pkts := c.sess.Drain()
	if len(pkts) != 1 || pkts[0].Type != codec.EOpen {
		t.Fatalf("first packets = %v, want the open packet", pkts)
	}
	return c
}

// Session is the client's Engine.IO session on the server.
func (c *Client) Session() *engine.Session { return c.sess }

// Send encodes p and hands it to the server.
func (c *Client) Send(p *codec.SPacket) {
	c.t.Helper()
	if c.msgpack {
		b, err := codec.EncodeMsgpack(nil, p)
		if err != nil {
			c.t.Fatalf("encode %+v: %v", p, err)
		}
		c.sess.Receive(codec.EPacket{Type: codec.EMessage, Data: b, Binary: true})
		return
	}
	text, atts, err := codec.EncodeJSON(nil, p)
	if err != nil {
		c.t.Fatalf("encode %+v: %v", p, err)
	}
	c.sess.Receive(codec.EPacket{Type: codec.EMessage, Data: text})
	for _, a := range atts {
		c.sess.Receive(codec.EPacket{Type: codec.EMessage, Data: a, Binary: true})
	}
}

// Connect joins a namespace and returns the server's answer (CONNECT or CONNECT_ERROR).
func (c *Client) Connect(nsp string, auth map[string]any) *codec.SPacket {
	c.t.Helper()
	p := &codec.SPacket{Type: codec.SConnect, Nsp: nsp, ID: codec.NoID}
	if auth != nil {
		p.Data = auth
	}
	c.Send(p)
	return c.Next()
}

// Emit sends an event; id is codec.NoID for none.
func (c *Client) Emit(nsp string, id int64, args ...any) {
	c.t.Helper()
	c.Send(&codec.SPacket{Type: codec.SEvent, Nsp: nsp, ID: id, Data: args})
}

// Poll decodes whatever is queued, without waiting.
func (c *Client) Poll() {
	c.t.Helper()
	for _, e := range c.sess.Drain() {
		if e.Type != codec.EMessage {
			continue
		}
		var p *codec.SPacket
		var err error
		switch {
		case c.msgpack:
			p, err = codec.DecodeMsgpack(e.Data)
		case e.Binary:
			p, err = c.dec.DecodeBinary(e.Data)
		default:
			p, err = c.dec.DecodeText(e.Data)
		}
		if err != nil {
			c.t.Fatalf("decode %q: %v", e.Data, err)
		}
		if p != nil {
			c.pending = append(c.pending, p)
		}
	}
}

// Next waits up to two seconds for the next packet.
func (c *Client) Next() *codec.SPacket {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.Poll()
		if len(c.pending) > 0 {
			p := c.pending[0]
			c.pending = c.pending[1:]
			return p
		}
		if time.Now().After(deadline) {
			c.t.Fatal("no packet within 2 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Quiet asserts that nothing arrives for a short while.
func (c *Client) Quiet() {
	c.t.Helper()
	time.Sleep(30 * time.Millisecond)
	c.Poll()
	if len(c.pending) > 0 {
		c.t.Fatalf("unexpected packet %+v", c.pending[0])
	}
}

// take waits up to two seconds for a packet that match accepts and removes it; packets
// before it stay queued for Next.
func (c *Client) take(what string, match func(*codec.SPacket) bool) *codec.SPacket {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.Poll()
		for i, p := range c.pending {
			if match(p) {
				c.pending = append(c.pending[:i], c.pending[i+1:]...)
				return p
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %s within 2 s (queued: %d packets)", what, len(c.pending))
		}
		time.Sleep(time.Millisecond)
	}
}

// Call emits an event on "/" with an ack and returns the ack's arguments.
func (c *Client) Call(args ...any) []any {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	c.Emit("/", id, args...)
	p := c.take("ack", func(p *codec.SPacket) bool { return p.Type == codec.SAck && p.ID == id })
	data, _ := p.Data.([]any)
	return data
}

// Event waits for the next event called name and returns its arguments.
func (c *Client) Event(name string) []any {
	c.t.Helper()
	p := c.take("event "+name, func(p *codec.SPacket) bool {
		args, ok := p.Data.([]any)
		return p.Type == codec.SEvent && ok && len(args) > 0 && args[0] == name
	})
	return p.Data.([]any)[1:]
}

// Queued removes and returns the first event called name that has arrived, if any,
// without waiting.
func (c *Client) Queued(name string) ([]any, bool) {
	c.Poll()
	for i, p := range c.pending {
		if args, ok := p.Data.([]any); ok && p.Type == codec.SEvent && len(args) > 0 && args[0] == name {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return args[1:], true
		}
	}
	return nil, false
}

// NoEvent asserts that no event called name arrives for a short while.
func (c *Client) NoEvent(name string) {
	c.t.Helper()
	time.Sleep(30 * time.Millisecond)
	c.Poll()
	for _, p := range c.pending {
		if args, ok := p.Data.([]any); ok && p.Type == codec.SEvent && len(args) > 0 && args[0] == name {
			c.t.Fatalf("unexpected %s %v", name, args[1:])
		}
	}
}

package server

import (
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server/engine"
)

// localClient is an in-process Socket.IO client on an attached Engine.IO session.
type localClient struct {
	t       testing.TB
	sess    *engine.Session
	parser  parserKind
	dec     codec.JSONDecoder
	pending []*codec.SPacket
	eio     []codec.EPacket // Engine.IO packets that were not messages
}

func dialLocal(t testing.TB, io *Server, parser parserKind) *localClient {
	t.Helper()
	c := &localClient{t: t, sess: io.Engine().Attach(4, "127.0.0.1:4000"), parser: parser}
	pkts := c.sess.Drain()
	if len(pkts) != 1 || pkts[0].Type != codec.EOpen {
		t.Fatalf("first packets = %v, want the open packet", pkts)
	}
	return c
}

func (c *localClient) send(p *codec.SPacket) {
	c.t.Helper()
	pkts, err := encodePacket(c.parser, p)
	if err != nil {
		c.t.Fatalf("encode %+v: %v", p, err)
	}
	for _, e := range pkts {
		c.sess.Receive(e)
	}
}

func (c *localClient) connect(nsp string, auth map[string]any) *codec.SPacket {
	c.t.Helper()
	p := &codec.SPacket{Type: codec.SConnect, Nsp: nsp, ID: codec.NoID}
	if auth != nil {
		p.Data = auth
	}
	c.send(p)
	return c.next()
}

func (c *localClient) emit(nsp string, id int64, args ...any) {
	c.t.Helper()
	c.send(&codec.SPacket{Type: codec.SEvent, Nsp: nsp, ID: id, Data: args})
}

// poll decodes whatever is queued without waiting.
func (c *localClient) poll() {
	c.t.Helper()
	for _, e := range c.sess.Drain() {
		if e.Type != codec.EMessage {
			c.eio = append(c.eio, e)
			continue
		}
		var p *codec.SPacket
		var err error
		switch {
		case c.parser == parserMsgpack:
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

// next waits up to two seconds for the next packet.
func (c *localClient) next() *codec.SPacket {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.poll()
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

// quiet asserts that nothing arrives for a short while.
func (c *localClient) quiet() {
	c.t.Helper()
	time.Sleep(30 * time.Millisecond)
	c.poll()
	if len(c.pending) > 0 {
		c.t.Fatalf("unexpected packet %+v", c.pending[0])
	}
}

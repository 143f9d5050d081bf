package server

import (
	"errors"
	"log"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"edgeio/codec"
	"edgeio/server/engine"
)

var errTextOnMsgpack = errors.New("server: text message on a msgpack connection")

// client is the Socket.IO side of one Engine.IO session: it decodes packets with the parser
// the connection spoke first and routes them to the connection's sockets, one per namespace.
type client struct {
	srv  *Server
	sess *engine.Session

	// read side: only the session's reader touches these
	parser      parserKind
	parserKnown bool
	dec         codec.JSONDecoder

	mu           sync.Mutex
	closed       bool
	sockets      map[string]*Socket
	connectTimer *time.Timer
}

func (s *Server) newClient(sess *engine.Session) engine.Handler {
	c := &client{srv: s, sess: sess, sockets: make(map[string]*Socket, 1)}
	c.dec.Budget = s.opts.DecodeBudget
	if sess.Protocol == 3 {
		// Socket.IO v4 clients (Engine.IO v3) join the main namespace without asking.
		c.parserKnown = true
		if s.opts.EIO3Msgpack {
			c.parser = parserMsgpack
		}
		c.connect("/", nil)
		return c
	}
	c.connectTimer = time.AfterFunc(s.opts.ConnectTimeout, func() {
		c.mu.Lock()
		idle := len(c.sockets) == 0 && !c.closed
		c.mu.Unlock()
		if idle {
			sess.Close(ReasonForcedClose)
		}
	})
	return c
}

// OnMessage decodes one Engine.IO message and routes the packet it completes.
func (c *client) OnMessage(data []byte, binary bool) {
	defer func() {
		if r := recover(); r != nil {
			log.Printf("edgeio: panic in a handler, closing session %s: %v\n%s", c.sess.ID, r, debug.Stack())
			c.sess.Close(ReasonForcedClose)
		}
	}()
	if !c.parserKnown {
		c.parserKnown = true
		if binary {
			c.parser = parserMsgpack
		}
	}
	p, err := c.decode(data, binary)
	var over *codec.BudgetError
	switch {
	case errors.As(err, &over):
		c.overBudget(over)
	case err != nil:
		c.sess.Close("parse error")
	case p != nil:
		c.route(p)
	}
}

// nspName is the namespace a packet's nsp names.
func (c *client) nspName(nsp string) string {
	if c.sess.Protocol == 3 {
		nsp, _, _ = strings.Cut(nsp, "?") // v4 clients put the query in the namespace
	}
	return nsp
}

// socketFor is the connection's socket in the namespace a packet's nsp names, or nil.
func (c *client) socketFor(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sockets[c.nspName(nsp)]
}

func (c *client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *client) route(p *codec.SPacket) {
	name, s := c.nspName(p.Nsp), c.socketFor(p.Nsp)
	switch {
	case p.Type == codec.SConnect && s == nil:
		auth, _ := p.Data.(map[string]any)
		c.connect(name, auth)
	case p.Type != codec.SConnect && s != nil:
		s.onPacket(p)
	default:
		// a packet for a namespace the client is not in, or a second CONNECT: Socket.IO
		// closes such a confused connection
		c.sess.Close(ReasonForcedClose)
	}
}

// connect runs the namespace's middleware and, when it passes, connects a socket.
func (c *client) connect(name string, auth map[string]any) {
	nsp := c.srv.namespace(name)
	if nsp == nil {
		c.connectError(name, &ConnectError{Message: "Invalid namespace"})
		return
	}
	s := newSocket(nsp, c, auth)
	mw, onConn := nsp.handlers()
	for _, m := range mw {
		if err := m(s); err != nil {
			ce, ok := err.(*ConnectError)
			if !ok {
				ce = &ConnectError{Message: err.Error()}
			}
			c.connectError(name, ce)
			if ce.Then != nil {
				ce.Then()
			}
			return
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.sockets[name] = s
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil // an idle connection keeps no timer it is done with
	}
	s.connected = true
	c.mu.Unlock()

	if rec := c.srv.recovery; rec != nil && c.sess.Protocol == 4 && s.tracksOffsets() {
		// its state may be held by a ghost of its own or kept by another node: then this
		// waits for it off the reading goroutine (the client sends nothing on this
		// namespace before the CONNECT reply)
		s.restore(rec, func(after func()) {
			if s.Connected() {
				c.connected(s, onConn, after)
				return
			}
			// the connection closed meanwhile
			s.shard.LeaveAll(s)
			nsp.remove(s)
			rec.Forget(s.rec)
			c.connected(s, nil, after)
		})
		return
	}
	nsp.add(s)
	s.shard.Join(s, nsp.Name, nsp.roomKey(s.ID))
	reply := &codec.SPacket{Type: codec.SConnect, Nsp: name, ID: codec.NoID}
	if c.sess.Protocol == 4 {
		reply.Data = map[string]any{"sid": s.ID}
	}
	_ = s.send(reply)
	c.connected(s, onConn, nil)
}

// connected runs the namespace's connection handlers for s, then after (recovery's
// hand-offs), if any.
func (c *client) connected(s *Socket, onConn []func(*Socket), after func()) {
	for _, fn := range onConn {
		fn(s)
	}
	if after != nil {
		after()
	}
}

func (c *client) connectError(name string, ce *ConnectError) {
	p := &codec.SPacket{Type: codec.SConnectError, Nsp: name, ID: codec.NoID}
	if c.sess.Protocol == 3 {
		p.Data = ce.Message
	} else {
		d := map[string]any{"message": ce.Message}
		if ce.Data != nil {
			d["data"] = ce.Data
		}
		p.Data = d
	}
	if pkts, err := c.encode(p); err == nil {
		c.sess.SendMany(pkts)
	}
}

// encode encodes a packet for this connection's parser (encodeFor).
func (c *client) encode(p *codec.SPacket) ([]codec.EPacket, error) {
	return encodeFor(c.parser, c.sess.Protocol, p)
}

func (c *client) removeSocket(s *Socket) {
	c.mu.Lock()
	if c.sockets[s.Namespace.Name] == s {
		delete(c.sockets, s.Namespace.Name)
	}
	c.mu.Unlock()
}

// connectedSockets returns the connection's sockets, one per namespace.
func (c *client) connectedSockets() []*Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Collect(maps.Values(c.sockets))
}

// Engaged reports whether the client has a namespace connected (engine.Engaged): a drain
// does not wait for one that has none.
func (c *client) Engaged() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sockets) > 0
}

// OnClose disconnects every socket of the connection with the session's reason.
func (c *client) OnClose(reason string) {
	c.mu.Lock()
	c.closed = true
	if c.connectTimer != nil {
		c.connectTimer.Stop()
	}
	sockets := slices.Collect(maps.Values(c.sockets))
	c.mu.Unlock()
	for _, s := range sockets {
		s.onClose(reason)
	}
}

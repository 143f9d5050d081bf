package engine

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"time"

	"edgeio/codec"

	"github.com/lxzan/gws"
	"github.com/valyala/fasthttp"
)

// wsPeer ties a gws connection to its session. probing is true while the connection is an
// upgrade candidate for a session that still runs on polling.
type wsPeer struct {
	sess     *Session
	probing  bool
	deflates bool // the connection negotiated permessage-deflate
	timer    *time.Timer
}

// peerSlot is the gws session storage: one pointer instead of gws's default map, since it
// is paid per connection.
type peerSlot struct{ peer *wsPeer }

func (p *peerSlot) Len() int {
	if p.peer == nil {
		return 0
	}
	return 1
}
func (p *peerSlot) Load(string) (any, bool) { return p.peer, p.peer != nil }
func (p *peerSlot) Delete(string)           { p.peer = nil }
func (p *peerSlot) Store(_ string, v any)   { p.peer, _ = v.(*wsPeer) }
func (p *peerSlot) Range(f func(string, any) bool) {
	if p.peer != nil {
		f("peer", p.peer)
	}
}

func peerOf(c *gws.Conn) *wsPeer { return c.Session().(*peerSlot).peer }

// upgradeNew opens a session directly on WebSocket.
func (s *Server) upgradeNew(ctx *fasthttp.RequestCtx, protocol int, req *Request) {
	admitted := s.opts.Gate != nil
	deflates := s.deflates(ctx)
	s.hijack(ctx, func(c *gws.Conn) {
		if c == nil { // the upgrade failed
			if admitted {
				s.opts.Gate.Release(req.ClientIP)
			}
			return
		}
		sess := newSession(s, protocol, req, TransportWebSocket)
		sess.admitted = admitted
		sess.deflates = deflates
		sess.ws = c
		c.Session().(*peerSlot).peer = &wsPeer{sess: sess}
		s.open(sess, []string{})
	})
}

// upgradeExisting takes a WebSocket that wants to replace sess's polling transport.
func (s *Server) upgradeExisting(ctx *fasthttp.RequestCtx, sess *Session) {
	deflates := s.deflates(ctx)
	sess.mu.Lock()
	ok := sess.transport == TransportPolling && !sess.closed && !sess.upgrading && !sess.candidate
	sess.candidate = sess.candidate || ok // one upgrade at a time
	sess.mu.Unlock()
	if !ok {
		// Engine.IO accepts the WebSocket and closes it: clients expect a close, not a 400.
		s.hijack(ctx, func(c *gws.Conn) {
			if c != nil {
				closeWS(c, false)
			}
		})
		return
	}
	s.hijack(ctx, func(c *gws.Conn) {
		if c == nil {
			sess.mu.Lock()
			sess.candidate = false
			sess.mu.Unlock()
			return
		}
		peer := &wsPeer{sess: sess, probing: true, deflates: deflates}
		peer.timer = time.AfterFunc(s.opts.UpgradeTimeout, func() { _ = c.NetConn().Close() })
		c.Session().(*peerSlot).peer = peer
	})
}

// hijack upgrades the connection with gws on fasthttp's port and runs the read loop;
// ready gets the connection, or nil when the upgrade failed.
func (s *Server) hijack(ctx *fasthttp.RequestCtx, ready func(*gws.Conn)) {
	req := &http.Request{Method: http.MethodGet, Header: make(http.Header), Host: string(ctx.Host())}
	for k, v := range ctx.Request.Header.All() {
		req.Header.Add(string(k), string(v))
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(nc net.Conn) {
		// Read the socket itself, not through fasthttp's 4 KB request reader (empty by now: a
		// client sends no frame before the 101), so that reader is freed with the request.
		if raw, ok := nc.(interface{ UnsafeConn() net.Conn }); ok {
			nc = raw.UnsafeConn()
		}
		_ = nc.SetDeadline(time.Time{})
		c, err := s.upgrader.UpgradeFromConn(nc, bufio.NewReaderSize(nc, s.opts.ReadBufferSize), req)
		if err != nil {
			ready(nil)
			return
		}
		_ = c.SetNoDelay(true)
		ready(c)
		// A fresh goroutine starts with a small stack; fasthttp's, which parsed the request,
		// would keep its grown one for the connection's whole life.
		go c.ReadLoop()
	})
}

type wsHandler struct {
	gws.BuiltinEventHandler
	srv *Server
}

// OnPing answers through the connection's write queue, where every other write goes, so
// that a pong never lands inside a frame being written.
func (h *wsHandler) OnPing(c *gws.Conn, payload []byte) {
	p := append([]byte(nil), payload...)
	c.Async(func() { _ = c.WritePong(p) })
}

// deflates reports whether gws will negotiate permessage-deflate for this upgrade: it
// does whenever compression is on and the client offers it.
func (s *Server) deflates(ctx *fasthttp.RequestCtx) bool {
	return !s.opts.NoCompression && bytes.Contains(ctx.Request.Header.Peek("Sec-WebSocket-Extensions"), []byte("permessage-deflate"))
}

func (h *wsHandler) OnClose(c *gws.Conn, _ error) {
	peer := peerOf(c)
	switch {
	case peer == nil:
	case peer.probing:
		// a failed upgrade: the session goes on polling
		peer.timer.Stop()
		peer.sess.mu.Lock()
		peer.sess.upgrading = false
		peer.sess.candidate = false
		peer.sess.mu.Unlock()
	default:
		peer.sess.Close(reasonTransportClose)
	}
}

func (h *wsHandler) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	peer := peerOf(c)
	if peer == nil {
		return
	}
	sess := peer.sess
	var p codec.EPacket
	var err error
	switch {
	case msg.Opcode == gws.OpcodeText:
		p, err = codec.ParseText(msg.Bytes()) // no copy: handlers do not keep data
	case sess.Protocol == 4:
		p = codec.EPacket{Type: codec.EMessage, Data: msg.Bytes(), Binary: true}
	default:
		p, err = codec.DecodeBinaryV3(msg.Bytes())
	}
	if err != nil {
		if peer.probing {
			_ = c.NetConn().Close()
			return
		}
		sess.Close(reasonParseError)
		return
	}
	if peer.probing {
		h.onProbe(c, peer, p)
		return
	}
	sess.onPacket(p)
}

// onProbe runs the upgrade: "2probe" is answered "3probe" and the polling side is told to
// return at once; "5" moves the session, and whatever is queued, onto this connection.
func (h *wsHandler) onProbe(c *gws.Conn, peer *wsPeer, p codec.EPacket) {
	sess := peer.sess
	switch {
	case p.Type == codec.EPing && string(p.Data) == "probe":
		sess.mu.Lock()
		if sess.closed {
			sess.mu.Unlock()
			_ = c.NetConn().Close()
			return
		}
		sess.upgrading = true
		sess.signal()
		sess.mu.Unlock()
		c.WriteAsync(gws.OpcodeText, []byte("3probe"), nil)
	case p.Type == codec.EUpgrade:
		sess.mu.Lock()
		if sess.closed || !sess.upgrading {
			sess.mu.Unlock()
			_ = c.NetConn().Close()
			return
		}
		peer.timer.Stop()
		peer.probing = false
		sess.upgrading = false
		sess.transport = TransportWebSocket
		sess.ws = c
		sess.deflates = peer.deflates
		sess.srv.opts.Stats.Upgrades.Add(1)
		for _, q := range sess.queue {
			sess.buffered.Add(-int64(len(q.Data) + 1)) // counted again as a frame
			sess.queueFrames(appendPacketFrame(nil, sess.Protocol, q, sess.deflates, sess.srv.opts.CompressThreshold))
		}
		sess.queue = nil
		sess.signal()
		sess.mu.Unlock()
	case p.Type == codec.ENoop:
	default:
		_ = c.NetConn().Close()
	}
}

package engine

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"time"

	"edgeio/codec"

	"github.com/valyala/fasthttp"
)

// v3HandshakeDelay holds back the handshake of an Engine.IO v3 session opened directly on
// WebSocket. Node's ws client hands a caller the data read together with the 101 before a
// caller awaiting the open event resumes, and v3 clients written that way (the official v3
// test suite) then miss the handshake: sent straight after the 101, it was in that read in
// up to a third of the suite's runs here. v4 clients are not held back.
const v3HandshakeDelay = 2 * time.Millisecond

// upgradeNew opens a session directly on WebSocket.
func (s *Server) upgradeNew(ctx *fasthttp.RequestCtx, protocol int, req *Request) {
	admitted := s.opts.Gate != nil
	deflates := s.deflates(ctx)
	s.hijack(ctx, deflates, func(wc *wsConn) {
		if wc == nil { // the upgrade failed
			if admitted {
				s.opts.Gate.Release(req.ClientIP)
			}
			return
		}
		if protocol == 3 {
			wc.firstDelay = v3HandshakeDelay
		}
		sess := newSession(s, protocol, req, TransportWebSocket)
		sess.admitted = admitted
		sess.deflates = deflates
		sess.ws = wc
		wc.sess = sess
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
		s.hijack(ctx, deflates, func(wc *wsConn) {
			if wc != nil {
				wc.closeAfterWrites(1000)
			}
		})
		return
	}
	s.hijack(ctx, deflates, func(wc *wsConn) {
		if wc == nil {
			sess.mu.Lock()
			sess.candidate = false
			sess.mu.Unlock()
			return
		}
		wc.sess, wc.probing = sess, true
		wc.timer = time.AfterFunc(s.opts.UpgradeTimeout, func() { wc.finish(ReasonTransportClose) })
	})
}

// hijack answers the upgrade with gws on fasthttp's port; ready gets the connection before
// it is read, or nil when the upgrade failed.
func (s *Server) hijack(ctx *fasthttp.RequestCtx, deflates bool, ready func(*wsConn)) {
	req := &http.Request{Method: http.MethodGet, Header: make(http.Header), Host: string(ctx.Host())}
	for k, v := range ctx.Request.Header.All() {
		req.Header.Add(string(k), string(v))
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(nc net.Conn) {
		// The socket itself, not fasthttp's 4 KB request reader around it (empty by now: a
		// client sends no frame before the 101), so that reader is freed with the request.
		if raw, ok := nc.(interface{ UnsafeConn() net.Conn }); ok {
			nc = raw.UnsafeConn()
		}
		_ = nc.SetDeadline(time.Time{})
		// gws writes the 101 with the negotiated extensions; its connection object is not
		// kept: edgeio reads and writes the frames (wsconn.go).
		if _, err := s.upgrader.UpgradeFromConn(nc, bufio.NewReaderSize(nc, 16), req); err != nil {
			ready(nil)
			return
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		wc := newWSConn(s, nc, deflates)
		ready(wc)
		wc.start()
	})
}

// deflates reports whether gws will negotiate permessage-deflate for this upgrade: it
// does whenever compression is on and the client offers it.
func (s *Server) deflates(ctx *fasthttp.RequestCtx) bool {
	return !s.opts.NoCompression && bytes.Contains(ctx.Request.Header.Peek("Sec-WebSocket-Extensions"), []byte("permessage-deflate"))
}

// onProbe runs the upgrade: "2probe" is answered "3probe" and the polling side is told to
// return at once; "5" moves the session, and whatever is queued, onto this connection.
func (wc *wsConn) onProbe(p codec.EPacket) {
	sess := wc.sess
	switch {
	case p.Type == codec.EPing && string(p.Data) == "probe":
		sess.mu.Lock()
		if sess.closed {
			sess.mu.Unlock()
			wc.finish(ReasonTransportClose)
			return
		}
		sess.upgrading = true
		sess.signal()
		sess.mu.Unlock()
		wc.write(appendFrame(nil, opText, []byte("3probe"), false))
	case p.Type == codec.EUpgrade:
		sess.mu.Lock()
		if sess.closed || !sess.upgrading {
			sess.mu.Unlock()
			wc.finish(ReasonTransportClose)
			return
		}
		wc.timer.Stop()
		wc.rmu.Lock()
		wc.probing = false
		wc.rmu.Unlock()
		sess.upgrading = false
		sess.transport = TransportWebSocket
		sess.ws = wc
		sess.deflates = wc.dec.Deflate
		sess.srv.opts.Stats.Upgrades.Add(1)
		// what waited for a poll goes first, in one write (it was within the bounds: the
		// connection lets it through unless its own pongs and probe answers are past them)
		sess.buffered.Store(0) // counted again by the connection
		wc.write(sess.frames(sess.queue))
		sess.queue = nil
		sess.signal()
		sess.mu.Unlock()
	case p.Type == codec.ENoop:
	default:
		wc.finish(ReasonTransportClose)
	}
}

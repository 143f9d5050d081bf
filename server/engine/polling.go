package engine

import (
	"bytes"
	"net/netip"
	"time"

	"edgeio/codec"

	"github.com/valyala/fasthttp"
)

// poll answers a long-polling GET with what is queued, waiting for something to send at
// most a heartbeat period (the server's ping comes within one anyway). fasthttp gives no
// signal when the client goes away, so the wait is always bounded.
func (s *Session) poll(ctx *fasthttp.RequestCtx) {
	s.mu.Lock()
	if s.getActive {
		s.mu.Unlock()
		writeError(ctx, errBadRequest)
		s.Close(ReasonTransportError)
		return
	}
	s.getActive = true
	// A poll that comes after the probe waits a little for the upgrade packet, which may be
	// on its way over the WebSocket: once it lands this poll is refused, as a stray.
	late := s.upgrading
	s.mu.Unlock()

	wait := s.srv.opts.PingInterval + s.srv.opts.PingTimeout
	switch {
	case late:
		wait = 100 * time.Millisecond
	case s.srv.released(ctx):
		wait = 0 // forwarded by a node that drains (forward_drain.go)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.queue) > 0 || s.closed || (s.upgrading && !late) || s.transport != TransportPolling {
			break
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-timer.C:
			s.mu.Lock()
			s.appendPolling(codec.EPacket{Type: codec.ENoop})
			s.mu.Unlock()
		}
	}
	if s.transport != TransportPolling && len(s.queue) == 0 {
		// upgraded while this poll waited: a client that upgrades never polls meanwhile
		s.getActive = false
		s.mu.Unlock()
		writeError(ctx, errBadRequest)
		return
	}
	pkts := s.queue
	s.queue = nil
	s.getActive = false
	var n int64
	for _, p := range pkts {
		n += int64(len(p.Data) + 1)
	}
	s.buffered.Add(-n)
	if len(pkts) == 0 {
		if s.closed {
			pkts = []codec.EPacket{{Type: codec.EClose}}
		} else {
			pkts = []codec.EPacket{{Type: codec.ENoop}}
		}
	}
	if last := pkts[len(pkts)-1].Type; s.closed && (last == codec.EClose || last == codec.ENoop) {
		defer s.srv.remove(s) // a lingering session has delivered its last packet
	}
	s.mu.Unlock()
	s.writePayload(ctx, pkts)
}

func (s *Session) writePayload(ctx *fasthttp.RequestCtx, pkts []codec.EPacket) {
	var body []byte
	ctype := "text/plain; charset=UTF-8"
	switch {
	case s.Protocol == 4:
		body = codec.AppendV4Payload(nil, pkts)
	case hasBinary(pkts) && !s.b64:
		body = codec.AppendV3BinaryPayload(nil, pkts)
		ctype = "application/octet-stream"
	default:
		body = codec.AppendV3Payload(nil, pkts)
	}
	ctx.SetContentType(ctype)
	if len(body) >= s.srv.opts.CompressThreshold && !s.srv.opts.NoCompression {
		switch {
		case ctx.Request.Header.HasAcceptEncoding("gzip"):
			ctx.Response.Header.Set("Content-Encoding", "gzip")
			body = fasthttp.AppendGzipBytes(nil, body)
		case ctx.Request.Header.HasAcceptEncoding("deflate"):
			ctx.Response.Header.Set("Content-Encoding", "deflate")
			body = fasthttp.AppendDeflateBytes(nil, body)
		}
	}
	ctx.SetBody(body)
}

func hasBinary(pkts []codec.EPacket) bool {
	for _, p := range pkts {
		if p.Binary {
			return true
		}
	}
	return false
}

// receive handles a polling POST: every packet of the body, in order, each as it is
// decoded, then "ok". A malformed packet ends the session, after those before it (as
// engine.io does); a session that closes on the way, cut off maybe for not polling the
// answers, handles no more of the body, and a closed one none of it: it is not decoded.
func (s *Session) receive(ctx *fasthttp.RequestCtx) {
	s.mu.Lock()
	if s.postActive {
		s.mu.Unlock()
		writeError(ctx, errBadRequest)
		s.Close(ReasonTransportError)
		return
	}
	s.postActive = true
	closed := s.closed
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.postActive = false
		s.mu.Unlock()
	}()

	if !closed {
		if err := s.handlePayload(ctx); err != nil {
			writeError(ctx, errBadRequest)
			s.Close(reasonParseError)
			return
		}
	}
	ctx.SetContentType("text/html")
	ctx.SetBodyString("ok")
}

// handlePayload hands the packets of a POST's body to the session as they are decoded,
// until it closes; it returns the error of a malformed packet.
func (s *Session) handlePayload(ctx *fasthttp.RequestCtx) error {
	handle := func(p codec.EPacket) bool {
		if s.isClosed() {
			return false
		}
		if p.Type == codec.EClose {
			s.awaitPoll(50 * time.Millisecond)
		}
		s.onPacket(p)
		return true
	}
	body := ctx.PostBody()
	if s.Protocol == 4 {
		return codec.EachV4Packet(body, handle)
	}
	binary := bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("application/octet-stream"))
	return codec.EachV3Packet(body, binary, handle)
}

// requestInfo copies what a handler may need from the request; ctx is reused after the
// handler returns.
func requestInfo(ctx *fasthttp.RequestCtx, ip netip.Addr) *Request {
	raw := bytes.TrimRight(ctx.Request.Header.RawHeaders(), "\r\n")
	return &Request{
		RemoteAddr: ctx.RemoteAddr().String(),
		ClientIP:   ip,
		rawHeader:  append(make([]byte, 0, len(raw)+2), raw...),
		rawQuery:   string(ctx.QueryArgs().QueryString()),
	}
}

func isUpgradeRequest(ctx *fasthttp.RequestCtx) bool {
	return bytes.EqualFold(ctx.Request.Header.Peek("Upgrade"), []byte("websocket"))
}

// awaitPoll gives a poll sent together with a client's close packet a moment to arrive, so
// that it is answered (with a noop) rather than refused for an unknown session.
func (s *Session) awaitPoll(limit time.Duration) {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s.mu.Lock()
		waiting := s.getActive
		s.mu.Unlock()
		if waiting {
			return
		}
	}
}

package engine

import (
	"bytes"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"edgeio/codec"
	"edgeio/server/security"

	"github.com/valyala/fasthttp"
)

// A handshake refused for its client's sake (a rate, a cap, a ban, the denylist, its
// origin) is told why inside the protocol, where a stock client shows it: the Engine.IO
// handshake succeeds, the client's Socket.IO CONNECT gets a CONNECT_ERROR written by
// Server.OnRefusal (a v2 client, which sends no CONNECT, gets it at once), and the refused
// session ends. Meanwhile the refusal holds little, and at most Options.RefusalBacklog of
// them are held at once: a small record on polling, the connection with no
// goroutine on WebSocket; never a Session or a heartbeat, and no goroutine that waits
// longer than one poll. Past the backlog, and for refusals of the server's own state
// (draining, full), the answer is an HTTP status with a JSON body, which a stock client
// retries by itself.

// refusalLinger is how long a refused session waits for its client's CONNECT and close.
// python-socketio waits a second for its namespaces before it closes a refused connection:
// a server that closed first would have it reconnect.
const refusalLinger = 5 * time.Second

// refusalPoll is how long a poll of a refused session waits for the CONNECT to answer.
const refusalPoll = time.Second

// refusalPrefix starts the session id of a refused session: no real id has a '.', so
// requests of other sessions never look in the refusals.
const refusalPrefix = "r."

// maxRefusalAnswer bounds what a refused session queues for its client (CONNECT_ERRORs).
const maxRefusalAnswer = 8

// refusal is one refused handshake, kept until its client has been told why.
type refusal struct {
	id       string
	protocol int
	why      security.Refusal
	expires  time.Time

	mu       sync.Mutex
	answer   []codec.EPacket // for the next poll
	answered int             // packets answered, maxRefusalAnswer at most
	told     bool            // a poll carried the answer (v2: the handshake did)
	polling  bool            // a poll waits for the answer
	wake     chan struct{}
}

// answerTo asks OnRefusal for the answer to a packet of the client's (its CONNECT), within
// maxRefusalAnswer packets in all; nil when there is none.
func (r *refusal) answerTo(s *Server, p *codec.EPacket) []codec.EPacket {
	r.mu.Lock()
	done := r.told || r.answered >= maxRefusalAnswer
	r.mu.Unlock()
	if done {
		return nil
	}
	answer := s.OnRefusal(r.protocol, r.why, p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.told || r.answered+len(answer) > maxRefusalAnswer {
		return nil
	}
	r.answered += len(answer)
	return answer
}

// refusals holds the refused sessions of polling clients, and counts WebSocket ones.
type refusals struct {
	max int

	mu    sync.Mutex
	held  int // polling records and WebSocket connections
	byID  map[string]*refusal
	order []*refusal // by expiry: every refusal lingers as long
}

// hold takes a place in the backlog, or reports that none is free.
func (rs *refusals) hold() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.expireLocked(time.Now())
	if rs.held >= rs.max {
		return false
	}
	rs.held++
	return true
}

// release frees a WebSocket refusal's place.
func (rs *refusals) release() {
	rs.mu.Lock()
	rs.held--
	rs.mu.Unlock()
}

// add keeps a polling refusal, whose place is held already.
func (rs *refusals) add(r *refusal) {
	rs.mu.Lock()
	if rs.byID == nil {
		rs.byID = make(map[string]*refusal)
	}
	rs.byID[r.id] = r
	rs.order = append(rs.order, r)
	rs.mu.Unlock()
}

func (rs *refusals) get(id string) *refusal {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.expireLocked(time.Now())
	return rs.byID[id]
}

// remove forgets r and frees its place (once).
func (rs *refusals) remove(r *refusal) {
	rs.mu.Lock()
	if rs.byID[r.id] == r {
		delete(rs.byID, r.id)
		rs.held--
	}
	rs.mu.Unlock()
}

// expireLocked forgets the refusals whose time is up.
func (rs *refusals) expireLocked(now time.Time) {
	for len(rs.order) > 0 && now.After(rs.order[0].expires) {
		r := rs.order[0]
		rs.order[0] = nil
		rs.order = rs.order[1:]
		if rs.byID[r.id] == r {
			delete(rs.byID, r.id)
			rs.held--
		}
	}
	if len(rs.order) == 0 {
		rs.order = nil // let the backing array go
	}
}

// RefusalsHeld is the number of refused handshakes held to tell their clients why.
func (s *Server) RefusalsHeld() int { return s.refusals.Len() }

// Len is the number of refusals held: polling records and WebSocket connections.
func (rs *refusals) Len() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.expireLocked(time.Now())
	return rs.held
}

// refuse answers a new handshake that why turns away: inside the protocol when it can,
// else with an HTTP status.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, protocol int, transport string, from netip.Addr, why security.Refusal) {
	if s.OnRefuse != nil {
		s.OnRefuse(why, from)
	}
	if why.Retry || s.OnRefusal == nil || !s.refusals.hold() {
		if !why.Retry && s.OnRefusal != nil {
			s.opts.Stats.Untold.Add(1)
		}
		WriteRefusal(ctx, why)
		return
	}
	r := &refusal{id: refusalPrefix + s.sessionID(), protocol: protocol, why: why,
		expires: time.Now().Add(refusalLinger), wake: make(chan struct{}, 1)}
	open := []codec.EPacket{{Type: codec.EOpen, Data: s.openPayload(r.id, protocol, []string{})}}
	if first := s.OnRefusal(protocol, why, nil); first != nil {
		open = append(open, first...)
		r.told = true // a v2 client: told with the handshake
	}
	if transport == TransportWebSocket {
		s.refuseOnWebSocket(ctx, r, open)
		return
	}
	s.refusals.add(r)
	writeRefusalPayload(ctx, protocol, open)
}

// refuseOnWebSocket upgrades, writes the handshake, and answers what the client sends
// with OnRefusal until it closes, refusalLinger at most.
func (s *Server) refuseOnWebSocket(ctx *fasthttp.RequestCtx, r *refusal, open []codec.EPacket) {
	deflates := s.deflates(ctx)
	s.hijack(ctx, deflates, func(wc *wsConn) {
		if wc == nil {
			s.refusals.release()
			return
		}
		var frames []byte
		for _, p := range open {
			frames = appendPacketFrame(frames, r.protocol, p, deflates, s.opts.CompressThreshold)
		}
		wc.refusal = r
		wc.timer = time.AfterFunc(refusalLinger, func() { wc.closeAfterWrites(1000) })
		wc.write(frames)
	})
}

// onRefusedMessage answers one Engine.IO packet of a refused WebSocket session.
func (wc *wsConn) onRefusedMessage(p codec.EPacket) {
	r, s := wc.refusal, wc.srv
	switch p.Type {
	case codec.EMessage:
		if answer := r.answerTo(s, &p); answer != nil {
			var frames []byte
			for _, a := range answer {
				frames = appendPacketFrame(frames, r.protocol, a, wc.dec.Deflate, s.opts.CompressThreshold)
			}
			wc.write(frames)
		}
	case codec.EClose:
		wc.closeAfterWrites(1000)
	}
}

// serveRefused answers a request of a refused polling session: the poll gets the answer to
// the client's CONNECT (waiting for it a moment), then the close packet; a POST is read
// for that CONNECT. In a cluster, another node's refusal is forwarded there.
func (s *Server) serveRefused(ctx *fasthttp.RequestCtx, sid []byte, ip netip.Addr) {
	r := s.refusals.get(string(sid))
	switch {
	case r == nil:
		if !s.forwarded(ctx, sid[len(refusalPrefix):], ip) {
			writeError(ctx, errUnknownSid)
		}
	case string(ctx.QueryArgs().Peek("transport")) != TransportPolling:
		writeError(ctx, errBadRequest)
	case ctx.IsGet():
		s.pollRefused(ctx, r)
	case ctx.IsPost():
		s.receiveRefused(ctx, r)
	default:
		writeError(ctx, errBadRequest)
	}
}

func (s *Server) pollRefused(ctx *fasthttp.RequestCtx, r *refusal) {
	r.mu.Lock()
	if r.polling {
		r.mu.Unlock()
		writeError(ctx, errBadRequest)
		return
	}
	if r.told {
		r.mu.Unlock()
		s.refusals.remove(r)
		writeRefusalPayload(ctx, r.protocol, []codec.EPacket{{Type: codec.EClose}})
		return
	}
	if len(r.answer) == 0 {
		r.polling = true
		r.mu.Unlock()
		t := time.NewTimer(refusalPoll)
		select {
		case <-r.wake:
		case <-t.C:
		}
		t.Stop()
		r.mu.Lock()
		r.polling = false
	}
	pkts := r.answer
	r.answer = nil
	r.told = r.told || len(pkts) > 0
	r.mu.Unlock()
	if len(pkts) == 0 {
		pkts = []codec.EPacket{{Type: codec.ENoop}}
	}
	writeRefusalPayload(ctx, r.protocol, pkts)
}

func (s *Server) receiveRefused(ctx *fasthttp.RequestCtx, r *refusal) {
	var pkts []codec.EPacket
	var err error
	if r.protocol == 4 {
		pkts, err = codec.DecodeV4Payload(ctx.PostBody())
	} else {
		binary := bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("application/octet-stream"))
		pkts, err = codec.DecodeV3Payload(ctx.PostBody(), binary)
	}
	if err != nil {
		writeError(ctx, errBadRequest)
		s.refusals.remove(r)
		return
	}
	for i := range pkts {
		switch pkts[i].Type {
		case codec.EMessage:
			if answer := r.answerTo(s, &pkts[i]); answer != nil {
				r.mu.Lock()
				r.answer = append(r.answer, answer...)
				r.mu.Unlock()
				select {
				case r.wake <- struct{}{}:
				default:
				}
			}
		case codec.EClose:
			s.refusals.remove(r)
		}
	}
	ctx.SetContentType("text/html")
	ctx.SetBodyString("ok")
}

// writeRefusalPayload answers a poll of a refused session (a few short packets).
func writeRefusalPayload(ctx *fasthttp.RequestCtx, protocol int, pkts []codec.EPacket) {
	ctx.SetContentType("text/plain; charset=UTF-8")
	if protocol == 4 {
		ctx.SetBody(codec.AppendV4Payload(nil, pkts))
		return
	}
	ctx.SetBody(codec.AppendV3Payload(nil, pkts))
}

// WriteRefusal answers a refusal over HTTP: its status, and a JSON body with the
// Engine.IO error's code and message, the metric's reason, and the client's code and
// retryAfterMs under data, as a CONNECT_ERROR carries them. Retry-After too, when known.
func WriteRefusal(ctx *fasthttp.RequestCtx, why security.Refusal) {
	b := make([]byte, 0, 192)
	b = append(b, `{"code":`...)
	if why.Retry {
		b = strconv.AppendInt(b, int64(why.Status), 10) // the drain's answer has always said 503
	} else {
		b = strconv.AppendInt(b, errForbidden, 10)
	}
	b = append(b, `,"message":"`...)
	b = append(b, why.Message...)
	b = append(b, `","reason":"`...)
	b = append(b, why.Reason...)
	b = append(b, `","data":{"code":"`...)
	b = append(b, why.Code...)
	b = append(b, '"')
	if ms := why.RetryAfter.Milliseconds(); ms > 0 {
		b = append(b, `,"retryAfterMs":`...)
		b = strconv.AppendInt(b, ms, 10)
		ctx.Response.Header.Set("Retry-After", strconv.FormatInt((ms+999)/1000, 10))
	}
	b = append(b, "}}"...)
	// a refused client's connection is not kept alive: idle, it would hold a goroutine
	ctx.SetConnectionClose()
	ctx.SetStatusCode(why.Status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

package engine

import (
	"bufio"
	"bytes"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"edgeio/codec"
)

// Handler receives what a session carries. OnMessage is called from the session's reader, one
// message at a time; data is only valid during the call. OnClose is called once, possibly
// from another goroutine (a heartbeat timer, a shutdown).
type Handler interface {
	OnMessage(data []byte, binary bool)
	OnClose(reason string)
}

// Farewell is what a Handler may also do: give the packets that tell its client why the
// server is cutting it off (ReasonSlowConsumer), sent in place of what was queued.
type Farewell interface {
	Farewell(reason string) []codec.EPacket
}

// Engaged is what a Handler may also do: report whether its client is using the session
// (Socket.IO: it has a namespace connected). The drain waits for an engaged polling client
// to collect its close packet; one that is not (a bare handshake) has nothing to collect,
// and is forgotten as soon as the server closes it. A Handler without it counts as engaged.
type Engaged interface {
	Engaged() bool
}

// Request is what the handshake request told about the client. Headers and query are kept
// as received and parsed on demand: they are paid per connection and read about once.
type Request struct {
	RemoteAddr string     // "ip:port" of the TCP peer
	ClientIP   netip.Addr // the client's address (through trusted proxies)
	rawHeader  []byte     // "Name: value\r\n" lines
	rawQuery   string
}

// Header parses the handshake's headers.
func (r *Request) Header() http.Header {
	if len(r.rawHeader) == 0 {
		return http.Header{}
	}
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(r.rawHeader, '\r', '\n'))))
	h, _ := tr.ReadMIMEHeader()
	return http.Header(h)
}

// Query parses the handshake's query string.
func (r *Request) Query() url.Values {
	q, _ := url.ParseQuery(r.rawQuery)
	return q
}

// Transport names, as the protocol spells them.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Session is one Engine.IO client, whichever transport it currently uses.
type Session struct {
	// What every delivery reads (SendPrepared), together at the start so that it shares
	// one or two cache lines: a broadcast touches thousands of sessions once each.
	mu       sync.Mutex
	closed   bool
	deflates bool         // the WebSocket negotiated permessage-deflate
	ws       *wsConn      // set once the session runs on WebSocket
	buffered atomic.Int64 // bytes queued and not yet written or polled
	srv      *Server
	Protocol int // 3 or 4

	ID      string
	Request *Request
	handler Handler

	transport    string
	upgrading    bool // a probe succeeded; polling answers at once until the upgrade packet
	candidate    bool // a WebSocket is attached as an upgrade candidate
	queue        []codec.EPacket
	wake         chan struct{}
	getActive    bool
	b64          bool // v3: the handshake asked for base64 binary in payloads
	postActive   bool
	awaitingPong bool
	cutting      bool // polling: the client is past its bounds and its cut-off on its way
	heartbeat    *time.Timer
	admitted     bool // counted in by the gate; counted out on close
}

func newSession(srv *Server, protocol int, req *Request, transport string) *Session {
	return &Session{
		ID:        srv.sessionID(),
		Protocol:  protocol,
		Request:   req,
		srv:       srv,
		transport: transport,
		wake:      make(chan struct{}, 1),
	}
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Handler is what the session hands its messages to; nil while it is being opened.
func (s *Session) Handler() Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handler
}

// engaged reports whether the session's client is using it (see Engaged).
func (s *Session) engaged() bool {
	h := s.Handler()
	e, ok := h.(Engaged)
	return h != nil && (!ok || e.Engaged())
}

// Transport is the transport the session runs on now.
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// Writable reports whether a packet sent now goes out without waiting in a queue: a WebSocket
// session, or a polling session with a GET waiting. Volatile emits skip other sessions.
func (s *Session) Writable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && (s.ws != nil || (s.getActive && len(s.queue) == 0))
}

// Send queues one Engine.IO packet. It reports false once the session is closed.
func (s *Session) Send(p codec.EPacket) bool {
	return s.SendMany([]codec.EPacket{p})
}

// SendMany queues packets back to back: nothing sent from elsewhere comes between them
// (a binary packet's attachments follow it). It reports false once the session is closed,
// and when its client is past its bounds (it is being cut off).
func (s *Session) SendMany(pkts []codec.EPacket) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && s.sendLocked(pkts...)
}

// backlog is what was sent to the client and not yet written or polled: bytes, and
// WebSocket writes or polling packets (callers hold s.mu).
func (s *Session) backlog() (bytes, queued int64) {
	bytes, queued = s.buffered.Load(), int64(len(s.queue))
	if s.ws != nil {
		bytes += s.ws.buffered.Load()
		queued += s.ws.writes.Load()
	}
	return bytes, queued
}

// past reports whether more than 1/part of either limit waits (callers hold s.mu).
func (s *Session) past(part int64) bool {
	bytes, queued := s.backlog()
	return part*bytes > int64(s.srv.opts.MaxBuffered) || part*queued > int64(s.srv.opts.MaxQueued)
}

// Backlog is what waits for the client: bytes, and WebSocket writes or polling packets.
func (s *Session) Backlog() (bytes, queued int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backlog()
}

// Congested reports whether half of either limit is queued for the client: what can be
// lost (typing, presence) is then better not sent.
func (s *Session) Congested() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.past(2)
}

// cutOffSlow closes a slow consumer's session. What was queued for it is dropped, and the
// handler's farewell goes in its place, so that a client that still reads, however
// slowly, learns why: on WebSocket before a close frame 1008 "slow consumer", on polling
// before the close packet. It gets no Socket.IO DISCONNECT: a stock client reconnects.
// The write or queue that found the client past its bounds runs it (see wsConn.write and
// queuePolling), on a goroutine of its own.
func (s *Session) cutOffSlow() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	h := s.handler
	s.mu.Unlock()
	var farewell []codec.EPacket
	if f, ok := h.(Farewell); ok {
		farewell = f.Farewell(ReasonSlowConsumer)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if ws := s.ws; ws != nil {
		s.count(farewell)
		ws.farewell(s.frames(farewell))
	} else {
		s.buffered.Store(0)
		clear(s.queue)
		s.queue = s.queue[:0]
		s.count(farewell)
		for _, p := range farewell {
			s.appendPolling(p)
		}
		s.signal()
	}
	s.mu.Unlock()
	s.Close(ReasonSlowConsumer)
}

// SendMessage queues a message packet.
func (s *Session) SendMessage(data []byte, binary bool) bool {
	return s.Send(codec.EPacket{Type: codec.EMessage, Data: data, Binary: binary})
}

// SendPrepared queues a message built once for many sessions. It reports false once the
// session is closed.
func (s *Session) SendPrepared(p *Prepared) bool { return s.SendPreparedMany([]*Prepared{p}) }

// SendPreparedMany queues several prepared messages in order; on a WebSocket their frames
// go out in one write. It reports false, for all of them, once the session is closed, and
// when its client is past its bounds.
func (s *Session) SendPreparedMany(ps []*Prepared) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return false
	case s.ws != nil:
		return s.ws.write(s.framesOf(ps))
	case len(ps) == 1:
		return s.queuePolling(ps[0].packets...)
	}
	var pkts []codec.EPacket
	for _, p := range ps {
		pkts = append(pkts, p.packets...)
	}
	return s.queuePolling(pkts...)
}

// framesOf is the WebSocket frames of ps for this session: a lone message's shared frames,
// or several messages' joined for one write.
func (s *Session) framesOf(ps []*Prepared) []byte {
	threshold := s.srv.opts.CompressThreshold
	if len(ps) == 1 {
		return ps[0].frames(s.Protocol, s.deflates, threshold)
	}
	var joined []byte
	for _, p := range ps {
		joined = append(joined, p.frames(s.Protocol, s.deflates, threshold)...)
	}
	return joined
}

// sendLocked queues packets on the session's transport, all of them or, when the client is
// past its bounds, none (callers hold s.mu, which keeps them in order). Everything the
// server sends a client goes this way or through SendPreparedMany: messages, the
// handshake, pings, pongs.
func (s *Session) sendLocked(pkts ...codec.EPacket) bool {
	var ok bool
	if s.ws != nil {
		ok = s.ws.write(s.frames(pkts))
	} else {
		ok = s.queuePolling(pkts...)
	}
	if ok {
		s.count(pkts)
	}
	return ok
}

// frames is pkts as this session's WebSocket frames, back to back.
func (s *Session) frames(pkts []codec.EPacket) []byte {
	var b []byte
	for _, p := range pkts {
		b = appendPacketFrame(b, s.Protocol, p, s.deflates, s.srv.opts.CompressThreshold)
	}
	return b
}

// count adds pkts to the stats; shared frames are counted once per broadcast, by their sender.
func (s *Session) count(pkts []codec.EPacket) {
	st := s.srv.opts.Stats
	for _, p := range pkts {
		st.PacketsOut.Add(1)
		st.BytesOut.Add(uint64(len(p.Data) + 1))
	}
}

// queuePolling queues pkts for the next poll, unless the client let more than
// --max-buffered bytes or --max-queued packets wait before them: then nothing is queued
// and the client is cut off, once, on a goroutine of its own (callers hold s.mu, which
// cutOffSlow takes). It reports whether pkts were queued.
func (s *Session) queuePolling(pkts ...codec.EPacket) bool {
	if s.past(1) {
		if !s.cutting {
			s.cutting = true
			go s.cutOffSlow()
		}
		return false
	}
	for _, p := range pkts {
		s.appendPolling(p)
	}
	s.signal()
	return true
}

// appendPolling queues p for the next poll, unchecked (callers hold s.mu and signal): the
// farewell, and the noop and close packets a poll and a close add, once each.
func (s *Session) appendPolling(p codec.EPacket) {
	s.buffered.Add(int64(len(p.Data) + 1))
	s.queue = append(s.queue, p)
}

func (s *Session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close ends the session: queued packets still go out, then the transport closes.
// The handler's OnClose gets reason.
func (s *Session) Close(reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.heartbeat != nil {
		s.heartbeat.Stop()
	}
	if s.admitted {
		s.srv.opts.Gate.Release(s.Request.ClientIP)
	}
	s.srv.opts.Stats.closed(reason)
	ws, handler := s.ws, s.handler
	linger := false
	if ws == nil {
		switch {
		case s.getActive && reason == ReasonTransportClose:
			// the client closed: it knows, and only needs its poll back
			s.appendPolling(codec.EPacket{Type: codec.ENoop})
			s.signal()
		case s.getActive || !clientCaused(reason):
			// The server closed: a poll carries the close packet, in a response of its own
			// when packets are queued (socket.io-client handles the Socket.IO packets of a
			// response only after its close packet: a DISCONNECT there would come too late).
			closeNow := len(s.queue) == 0
			if closeNow {
				s.appendPolling(codec.EPacket{Type: codec.EClose})
			}
			s.signal()
			linger = !s.getActive || !closeNow
		}
	}
	s.mu.Unlock()

	if linger {
		// keep the session findable until the close packet is polled, a heartbeat at most
		time.AfterFunc(s.srv.opts.PingInterval+s.srv.opts.PingTimeout, func() { s.srv.remove(s) })
	} else {
		s.srv.remove(s)
	}
	if ws != nil {
		closeWS(ws, reason)
	}
	if handler != nil {
		handler.OnClose(reason)
	}
}

// closeWS closes after what is queued has been written, with a close frame that says why
// (1012 "service restart" when the server shuts down); a peer that stopped reading gets its
// connection cut after a second. A connection that is gone, or cut off as a slow consumer
// (its close frame is on its way already), is closed at once.
func closeWS(wc *wsConn, reason string) {
	switch reason {
	case ReasonTransportClose, ReasonTransportError, ReasonSlowConsumer:
		wc.cut()
	case ReasonShutdown:
		wc.closeAfterWrites(1012)
	case ReasonPayloadTooLarge:
		wc.fail(1009) // as for a frame over MaxPayload: what follows it is not read
	default:
		wc.closeAfterWrites(1000)
	}
}

// clientCaused reports whether a close comes from the client's side (it went away, broke
// the protocol, or stopped answering), as opposed to the server's decision.
func clientCaused(reason string) bool {
	switch reason {
	case ReasonTransportClose, ReasonTransportError, ReasonPingTimeout, reasonParseError, ReasonPingFlood:
		return true
	}
	return false
}

// Close reasons given to Handler.OnClose.
const (
	// The connection failed: the client went away, its transport broke, it stopped
	// answering pings.
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	reasonParseError     = "parse error"
	// ReasonShutdown is given to every session when the server shuts down.
	ReasonShutdown = "server shutting down"
	// ReasonPayloadTooLarge closes a session that sent a packet over the decode budget:
	// its WebSocket is read no further and closes with 1009, "message too big", after
	// what was queued.
	ReasonPayloadTooLarge = "payload too large"
	// ReasonSlowConsumer closes a session whose client does not read what is sent to it
	// (--max-buffered, --max-queued).
	ReasonSlowConsumer = "slow consumer"
	// ReasonPingFlood closes a WebSocket whose peer sends more pings than anyone needs
	// (pingBudget).
	ReasonPingFlood = "ping flood"
)

// startHeartbeat arms the ping loop (v4: the server pings) or the ping watchdog (v3: the
// client pings and the server answers).
func (s *Session) startHeartbeat() {
	o := &s.srv.opts
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Protocol == 3 {
		s.heartbeat = time.AfterFunc(o.PingInterval+o.PingTimeout, func() { s.Close(ReasonPingTimeout) })
		return
	}
	s.heartbeat = time.AfterFunc(o.PingInterval, s.onHeartbeat)
}

func (s *Session) onHeartbeat() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.awaitingPong {
		s.mu.Unlock()
		s.Close(ReasonPingTimeout)
		return
	}
	s.awaitingPong = true
	s.sendLocked(codec.EPacket{Type: codec.EPing}) // refused past the bounds: the client is being cut off
	s.heartbeat.Reset(s.srv.opts.PingTimeout)
	s.mu.Unlock()
}

// onPacket handles one packet that arrived on the session's current transport.
func (s *Session) onPacket(p codec.EPacket) {
	switch p.Type {
	case codec.EMessage:
		st := s.srv.opts.Stats
		st.MessagesIn.Add(1)
		st.BytesIn.Add(uint64(len(p.Data)))
		s.handler.OnMessage(p.Data, p.Binary)
	case codec.EPong:
		if s.Protocol == 4 {
			s.mu.Lock()
			if s.awaitingPong && !s.closed {
				s.awaitingPong = false
				s.heartbeat.Reset(s.srv.opts.PingInterval)
			}
			s.mu.Unlock()
		}
	case codec.EPing:
		if s.Protocol == 3 {
			s.mu.Lock()
			if !s.closed {
				s.sendLocked(codec.EPacket{Type: codec.EPong, Data: append([]byte(nil), p.Data...)})
				s.heartbeat.Reset(s.srv.opts.PingInterval + s.srv.opts.PingTimeout)
			}
			s.mu.Unlock()
		}
	case codec.EClose:
		s.Close(ReasonTransportClose)
	case codec.ENoop:
	default:
		// open and upgrade never come from a client on the session's transport
		s.Close(reasonParseError)
	}
}

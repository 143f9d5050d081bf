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
	heartbeat    *time.Timer
	admitted     bool // counted in by the gate; counted out on close
}

func newSession(srv *Server, protocol int, req *Request, transport string) *Session {
	return &Session{
		ID:        newID(),
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
// (a binary packet's attachments follow it).
func (s *Session) SendMany(pkts []codec.EPacket) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	over := s.overLimit()
	for _, p := range pkts {
		s.sendLocked(p)
	}
	return s.unlockCheckingBacklog(over)
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

// overLimit reports whether the client let more than --max-buffered bytes or
// --max-queued writes pile up (callers hold s.mu).
func (s *Session) overLimit() bool { return s.past(1) }

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

// unlockCheckingBacklog releases s.mu and cuts off a session whose client let too much pile
// up before this send: a peer that stops reading costs bounded memory, while one large
// reply to a client that reads goes out whatever its size.
func (s *Session) unlockCheckingBacklog(over bool) bool {
	s.mu.Unlock()
	if over {
		s.cutOffSlow()
		return false
	}
	return true
}

// cutOffSlow closes a slow consumer's session. What was queued for it is dropped, and the
// handler's farewell goes in its place, so that a client that still reads, however
// slowly, learns why: on WebSocket before a close frame 1008 "slow consumer", on polling
// before the close packet. It gets no Socket.IO DISCONNECT: a stock client reconnects.
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
		ws.dropPending()
		for _, p := range farewell {
			s.sendLocked(p)
		}
		ws.closeGracefully(1008)
	} else {
		s.buffered.Store(0)
		clear(s.queue)
		s.queue = s.queue[:0]
		for _, p := range farewell {
			s.queuePolling(p)
		}
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
// go out in one write. It reports false, for all of them, once the session is closed.
func (s *Session) SendPreparedMany(ps []*Prepared) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	over := s.overLimit()
	if s.ws != nil {
		s.queueFrames(s.framesOf(ps))
		return s.unlockCheckingBacklog(over)
	}
	for _, p := range ps {
		for _, pkt := range p.packets {
			s.queuePolling(pkt)
		}
	}
	return s.unlockCheckingBacklog(over)
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

// queueFrames sends ready WebSocket frames (callers hold s.mu, which keeps them in order).
func (s *Session) queueFrames(frames []byte) {
	s.ws.write(frames)
}

func (s *Session) sendLocked(p codec.EPacket) {
	n := int64(len(p.Data) + 1)
	st := s.srv.opts.Stats
	st.PacketsOut.Add(1)
	st.BytesOut.Add(uint64(n))
	if s.ws != nil {
		s.queueFrames(appendPacketFrame(nil, s.Protocol, p, s.deflates, s.srv.opts.CompressThreshold))
		return
	}
	s.queuePolling(p)
}

// queuePolling queues p for the next poll (callers hold s.mu); shared frames are counted
// in the stats once per broadcast, by their sender.
func (s *Session) queuePolling(p codec.EPacket) {
	s.buffered.Add(int64(len(p.Data) + 1))
	s.queue = append(s.queue, p)
	s.signal()
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
			s.queue = append(s.queue, codec.EPacket{Type: codec.ENoop})
			s.signal()
		case s.getActive || !clientCaused(reason):
			// The server closed: a poll carries the close packet, in a response of its own
			// when packets are queued (socket.io-client handles the Socket.IO packets of a
			// response only after its close packet: a DISCONNECT there would come too late).
			closeNow := len(s.queue) == 0
			if closeNow {
				s.queue = append(s.queue, codec.EPacket{Type: codec.EClose})
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
	case ReasonTransportClose, ReasonTransportError, ReasonPingTimeout, reasonParseError:
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
	s.sendLocked(codec.EPacket{Type: codec.EPing})
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

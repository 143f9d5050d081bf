package engine

import (
	"bytes"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"edgeio/codec"
	"edgeio/server/security"

	"github.com/lxzan/gws"
	"github.com/valyala/fasthttp"
)

// Server serves Engine.IO on one path.
type Server struct {
	opts Options

	// OnOpen is called for each new session, after its open packet is queued; the returned
	// Handler receives its messages. It must be set before serving.
	OnOpen func(*Session) Handler
	// OnRefusal writes what a refused session tells its client (refusal.go): called with
	// msg nil when the session opens (packets to send with the handshake), then with each
	// message the client sends (the answer to its CONNECT). nil answers nothing; an engine
	// without OnRefusal refuses with HTTP statuses.
	OnRefusal func(protocol int, why security.Refusal, msg *codec.EPacket) []codec.EPacket
	// OnRefuse hears of every refusal (metrics, the log); nil hears nothing.
	OnRefuse func(why security.Refusal, from netip.Addr)

	upgrader *gws.Upgrader

	mu       sync.Mutex
	sessions map[string]*Session
	closing  bool

	refusals refusals
	fwd      atomic.Pointer[forwarder] // a node of a cluster (forward.go); nil alone
}

// NewServer returns a Server with opts' zero fields set to their defaults.
func NewServer(opts Options) *Server {
	opts.fill()
	s := &Server{opts: opts, sessions: make(map[string]*Session), refusals: refusals{max: opts.RefusalBacklog}}
	// gws only answers the upgrade and negotiates permessage-deflate; edgeio reads, writes
	// and compresses the frames (wsconn.go, frames.go). gws builds its compressors up front
	// (about 0.5 MB each), so it gets the smallest pool: it never uses it.
	s.upgrader = gws.NewUpgrader(gws.BuiltinEventHandler{}, &gws.ServerOption{
		PermessageDeflate: gws.PermessageDeflate{
			PoolSize:              1,
			Enabled:               !opts.NoCompression,
			ServerContextTakeover: false,
			ClientContextTakeover: false,
		},
	})
	return s
}

// Options returns the options in force, defaults filled in.
func (s *Server) Options() Options { return s.opts }

// Len is the number of sessions held: the open ones, and the closed ones whose client has
// still to collect its last packets.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// ServeHTTP handles one request under the server's path.
func (s *Server) ServeHTTP(ctx *fasthttp.RequestCtx) {
	ip := s.clientIP(ctx)
	q := ctx.QueryArgs()
	sid := q.Peek("sid")
	if IsRefused(sid) {
		s.serveRefused(ctx, sid, ip)
		return
	}
	var sess *Session
	if len(sid) > 0 {
		sess = s.lookup(string(sid))
	}
	// A poll of an existing session is answered whoever asks: it only collects what the
	// server queued, such as why the session is closing (the ban that closes it, say: a poll
	// may come between the ban and the session's close, and would miss the answer). Its
	// POSTs and upgrades from a banned address are refused; new handshakes are refused
	// below, in the protocol. The node that holds a session is the judge of its polls.
	collecting := (sess != nil || s.elsewhere(sid)) && ctx.IsGet() && string(q.Peek("transport")) == TransportPolling
	if g := s.opts.Gate; g != nil && len(sid) > 0 && !collecting {
		if why, refused := g.Blocked(ip); refused {
			if s.OnRefuse != nil {
				s.OnRefuse(why, ip)
			}
			WriteRefusal(ctx, why)
			return
		}
	}
	transport := string(q.Peek("transport"))
	if transport != TransportPolling && transport != TransportWebSocket {
		writeError(ctx, errUnknownTransport)
		return
	}
	if len(sid) > 0 {
		if sess == nil {
			if !s.forwarded(ctx, sid, ip) {
				writeError(ctx, errUnknownSid)
			}
			return
		}
		if transport == TransportWebSocket {
			if !isUpgradeRequest(ctx) {
				writeError(ctx, errBadRequest)
				return
			}
			s.upgradeExisting(ctx, sess)
			return
		}
		switch {
		case sess.Transport() != TransportPolling:
			writeError(ctx, errBadRequest)
		case ctx.IsGet():
			sess.poll(ctx)
		case ctx.IsPost() && s.released(ctx):
			sess.releasePoll()
			ctx.SetBodyString("ok")
		case ctx.IsPost():
			sess.receive(ctx)
		default:
			writeError(ctx, errBadRequest)
		}
		return
	}
	protocol, transport, code := s.handshakeOf(ctx)
	if code >= 0 {
		writeError(ctx, code)
		return
	}
	if s.isClosing() { // draining: the client's retry should find another node
		s.refuse(ctx, protocol, transport, ip, security.Draining)
		return
	}
	if g := s.opts.Gate; g != nil {
		if why, refused := g.Admit(ip); refused {
			s.refuse(ctx, protocol, transport, ip, why)
			return
		}
	}
	req := requestInfo(ctx, ip)
	if transport == TransportWebSocket {
		s.upgradeNew(ctx, protocol, req)
		return
	}
	sess = newSession(s, protocol, req, TransportPolling)
	sess.admitted = s.opts.Gate != nil
	sess.b64 = len(q.Peek("b64")) > 0
	s.open(sess, []string{TransportWebSocket})
	sess.poll(ctx)
}

// handshakeOf reads a new session's request: its protocol and transport, or the error
// that refuses it (-1: none).
func (s *Server) handshakeOf(ctx *fasthttp.RequestCtx) (protocol int, transport string, code int) {
	q := ctx.QueryArgs()
	transport = string(q.Peek("transport"))
	switch {
	case transport != TransportPolling && transport != TransportWebSocket:
		return 0, "", errUnknownTransport
	case !ctx.IsGet():
		return 0, "", errBadHandshakeMethod
	case bytes.Equal(q.Peek("EIO"), []byte("4")):
		protocol = 4
	case s.opts.AllowEIO3 && bytes.Equal(q.Peek("EIO"), []byte("3")):
		protocol = 3
	default:
		return 0, "", errUnsupportedProtocol
	}
	if transport == TransportWebSocket && !isUpgradeRequest(ctx) {
		return 0, "", errBadRequest
	}
	return protocol, transport, -1
}

// RefuseHandshake refuses a new session for why (a foreign origin) as the gate's refusals
// are, in the protocol; it reports false, answering nothing, for any other request.
func (s *Server) RefuseHandshake(ctx *fasthttp.RequestCtx, why security.Refusal) bool {
	if len(ctx.QueryArgs().Peek("sid")) > 0 {
		return false
	}
	protocol, transport, code := s.handshakeOf(ctx)
	if code >= 0 {
		return false
	}
	s.refuse(ctx, protocol, transport, s.clientIP(ctx), why)
	return true
}

// IsRefused reports whether sid names a refused session (refusal.go), whose requests
// carry only the refusal.
func IsRefused(sid []byte) bool { return bytes.HasPrefix(sid, []byte(refusalPrefix)) }

// ClientIP is the address a request comes from, through the trusted proxies.
func (s *Server) ClientIP(ctx *fasthttp.RequestCtx) netip.Addr { return s.clientIP(ctx) }

// clientIP is the address the request comes from: the one another node of the cluster
// names in a request it forwarded, else security.ClientIP's, reading every X-Forwarded-For
// line: Peek would give only the first, which a client behind a proxy that adds a line of
// its own writes itself.
func (s *Server) clientIP(ctx *fasthttp.RequestCtx) netip.Addr {
	if f := s.fwd.Load(); f != nil {
		if ip, ok := f.hopClient(ctx); ok {
			return ip // forwarded by another node, which named its client
		}
	}
	var lines [][]byte
	if len(s.opts.TrustedProxies) > 0 {
		for k, v := range ctx.Request.Header.All() {
			if bytes.EqualFold(k, xffHeader) {
				lines = append(lines, v)
			}
		}
	}
	return security.ClientIP(ctx.RemoteAddr().String(), lines, s.opts.TrustedProxies)
}

var xffHeader = []byte("X-Forwarded-For")

// open registers sess, queues its open packet, hands it to OnOpen and starts its heartbeat.
func (s *Server) open(sess *Session, upgrades []string) {
	s.mu.Lock()
	s.sessions[sess.ID] = sess
	s.mu.Unlock()
	s.opts.Stats.Opened.Add(1)
	sess.Send(codec.EPacket{Type: codec.EOpen, Data: s.openPayload(sess.ID, sess.Protocol, upgrades)})
	h := s.OnOpen(sess)
	sess.mu.Lock() // SessionsWhere may have found the session already
	sess.handler = h
	sess.mu.Unlock()
	sess.startHeartbeat()
}

func (s *Server) openPayload(id string, protocol int, upgrades []string) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"sid":"`...)
	b = append(b, id...)
	b = append(b, `","upgrades":[`...)
	for i, u := range upgrades {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, u...)
		b = append(b, '"')
	}
	b = append(b, `],"pingInterval":`...)
	b = strconv.AppendInt(b, s.opts.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, s.opts.PingTimeout.Milliseconds(), 10)
	if protocol == 4 {
		b = append(b, `,"maxPayload":`...)
		b = strconv.AppendInt(b, int64(s.opts.MaxPayload), 10)
	}
	return append(b, '}')
}

func (s *Server) lookup(sid string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[sid]
}

func (s *Server) remove(sess *Session) {
	s.mu.Lock()
	delete(s.sessions, sess.ID)
	s.mu.Unlock()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Close refuses new sessions and closes every open one with reason. Those whose client is
// not engaged (see Engaged), open or closed already, are forgotten at once: a drain that
// waits for Len to reach 0 waits only for clients with something to collect.
func (s *Server) Close(reason string) {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	if f := s.fwd.Load(); f != nil {
		go f.drain() // what it carries for other nodes (forward_drain.go)
	}
	for _, sess := range s.SessionsWhere(func(*Session) bool { return true }) {
		engaged := sess.engaged() // before the close, which disconnects its sockets
		sess.Close(reason)
		if !engaged {
			s.remove(sess)
		}
	}
}

// CloseWhere closes the sessions that match, with reason; it returns how many.
func (s *Server) CloseWhere(match func(*Session) bool, reason string) int {
	hit := s.SessionsWhere(match)
	for _, sess := range hit {
		sess.Close(reason)
	}
	return len(hit)
}

// SessionsWhere returns the sessions for which match is true.
func (s *Server) SessionsWhere(match func(*Session) bool) []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hit []*Session
	for _, sess := range s.sessions {
		if match(sess) {
			hit = append(hit, sess)
		}
	}
	return hit
}

func newID() string { return randomString(15) }

// Prepared is a message encoded once and sent to many sessions: WebSocket sessions share
// its frames (built, and compressed, at most once per protocol and compression setting),
// polling sessions its packets.
type Prepared struct {
	packets []codec.EPacket
	size    int
	built   [2][2]struct { // [v3][deflated]
		once   sync.Once
		frames []byte
	}
}

// NewPrepared prepares pkts (Engine.IO message packets).
func NewPrepared(pkts []codec.EPacket) *Prepared {
	p := &Prepared{packets: pkts}
	for _, pkt := range pkts {
		p.size += len(pkt.Data) + 1
	}
	return p
}

// frames is the message as WebSocket frames of an Engine.IO protocol, back to back,
// deflated or not. The protocols frame binary packets differently (v3 prefixes a 4).
func (p *Prepared) frames(protocol int, deflates bool, threshold int) []byte {
	v3, deflated := 0, 0
	if protocol == 3 {
		v3 = 1
	}
	if deflates {
		deflated = 1
	}
	b := &p.built[v3][deflated]
	b.once.Do(func() {
		for _, pkt := range p.packets {
			b.frames = appendPacketFrame(b.frames, protocol, pkt, deflates, threshold)
		}
	})
	return b.frames
}

// Packets is the number of Engine.IO packets the message takes; Size their bytes.
func (p *Prepared) Packets() int { return len(p.packets) }

// Size is the bytes of the message's packets.
func (p *Prepared) Size() int { return p.size }

package engine

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"edgeio/server/security"

	"github.com/valyala/fasthttp"
)

// Forwarding makes the nodes of a cluster one server to their clients, so that a load
// balancer needs no sticky sessions: a request for a session another node holds (a poll, a
// POST, the WebSocket upgrade of a polling session; the same of a refused session) is
// forwarded to that node and answered from there. Each node's session ids start with a tag
// of its own; the cluster tells each node the others' tags, addresses and keys (SetRoute),
// from its heartbeats. A forwarded request carries the key of the node it goes to, which
// proves that a node of the cluster sent it, and the client's address, which that node then
// takes for the request's. A request for a session of this node never looks at the routes:
// behind a sticky balancer forwarding costs nothing.

// tagLen is the length of a node's tag, the start of its session ids.
const tagLen = 8

// Headers of a forwarded request.
const (
	hopKeyHeader    = "X-Edgeio-Hop"    // the key of the node it goes to
	hopClientHeader = "X-Edgeio-Client" // the client's address, as the forwarding node saw it
)

const (
	// forwardDialTimeout bounds connecting to another node: a node that does not answer
	// within it is taken for gone, and its clients are told their session is unknown.
	forwardDialTimeout = time.Second
	// forwardDownFor is how long requests for a node that could not be reached are
	// answered at once, without trying it again.
	forwardDownFor = time.Second
	// forwardPostTimeout bounds a forwarded POST (its packets are handled as they come).
	forwardPostTimeout = 10 * time.Second
	// forwardIdle is how long a connection to another node is kept idle at most: under the
	// idle timeout of that node's listener (ping interval and timeout, and 5 s), so that it
	// seldom closes one being reused (a request it closed unread is sent again).
	forwardIdle = 10 * time.Second
)

// Route is how to reach the sessions of another node.
type Route struct {
	Node string // the node's id in the cluster
	Tag  string // the start of its session ids
	Addr string // host:port of its client listener, as the other nodes reach it
	Key  string // what proves to it that a request comes from a node of the cluster
}

// forwarder is a server's side of forwarding: its own tag and key, the other nodes'
// routes, and the requests it is forwarding.
type forwarder struct {
	srv  *Server
	self Route

	mu    sync.RWMutex
	peers map[string]*peer // by tag

	inflight atomic.Int64 // requests and upgrades forwarded and not answered yet

	hmu      sync.Mutex
	draining bool                   // forward_drain.go
	held     map[*heldPoll]struct{} // polls waiting on other nodes
	pipes    map[*wsPipe]struct{}   // WebSockets carried to other nodes
}

// ForwardStats counts what forwarding does, for metrics.
type ForwardStats struct {
	Polls, Posts, Upgrades atomic.Uint64 // requests forwarded to the node holding their session
	Failures               atomic.Uint64 // forwards whose node could not be reached or did not answer
}

// Forward makes the server a node of a cluster reached by the others at addr: the ids of
// its new sessions start with a tag of its own, and requests for sessions of the nodes
// given by SetRoute are forwarded to them. It returns this node's route, for the cluster
// to announce; called again, it returns the same. Call it before serving.
func (s *Server) Forward(addr string) Route {
	if f := s.fwd.Load(); f != nil {
		return f.self
	}
	f := &forwarder{srv: s, peers: make(map[string]*peer), held: make(map[*heldPoll]struct{}), pipes: make(map[*wsPipe]struct{}),
		self: Route{Tag: randomString(tagLen * 3 / 4), Addr: addr, Key: randomString(24)}}
	if !s.fwd.CompareAndSwap(nil, f) {
		return s.fwd.Load().self
	}
	return f.self
}

// SetRoute adds or updates the route to another node's sessions; it replaces the node's
// previous route (a node that restarted has a new tag and key).
func (s *Server) SetRoute(r Route) {
	f := s.fwd.Load()
	if f == nil || len(r.Tag) != tagLen || r.Tag == f.self.Tag || r.Addr == "" {
		return
	}
	f.mu.RLock()
	p := f.peers[r.Tag]
	f.mu.RUnlock()
	if p != nil && p.Route == r {
		return // every heartbeat says it again
	}
	f.mu.Lock()
	var gone []*peer
	for tag, q := range f.peers {
		if q.Node == r.Node || tag == r.Tag {
			delete(f.peers, tag)
			gone = append(gone, q)
		}
	}
	f.peers[r.Tag] = newPeer(f, r)
	f.mu.Unlock()
	for _, q := range gone {
		q.close()
	}
}

// DropRoute forgets the route to node's sessions, which left the cluster, and closes what
// is being forwarded to it: its clients learn at once that their sessions are gone.
func (s *Server) DropRoute(node string) {
	f := s.fwd.Load()
	if f == nil {
		return
	}
	f.mu.Lock()
	var gone []*peer
	for tag, p := range f.peers {
		if p.Node == node {
			delete(f.peers, tag)
			gone = append(gone, p)
		}
	}
	f.mu.Unlock()
	for _, p := range gone {
		p.close()
	}
}

// Routes lists the routes to the other nodes' sessions known now.
func (s *Server) Routes() []Route {
	f := s.fwd.Load()
	if f == nil {
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Route, 0, len(f.peers))
	for _, p := range f.peers {
		out = append(out, p.Route)
	}
	return out
}

// ForwardStats returns the forwarding counters.
func (s *Server) ForwardStats() *ForwardStats { return &s.opts.Stats.Forwards }

// Forwarding is the number of requests being forwarded to other nodes, and of WebSockets
// carried to them.
func (s *Server) Forwarding() (requests, websockets int) {
	f := s.fwd.Load()
	if f == nil {
		return 0, 0
	}
	f.hmu.Lock()
	defer f.hmu.Unlock()
	return int(f.inflight.Load()), len(f.pipes)
}

// sessionID is a new session id: random, after this node's tag in a cluster.
func (s *Server) sessionID() string {
	if f := s.fwd.Load(); f != nil {
		return f.self.Tag + newID()
	}
	return newID()
}

// hopClient is the client's address that a request forwarded by another node of the
// cluster names; false for any other request (one that carries no key, or a wrong one).
func (f *forwarder) hopClient(ctx *fasthttp.RequestCtx) (netip.Addr, bool) {
	key := ctx.Request.Header.Peek(hopKeyHeader)
	if len(key) == 0 || subtle.ConstantTimeCompare(key, []byte(f.self.Key)) != 1 {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(string(ctx.Request.Header.Peek(hopClientHeader)))
	return ip, err == nil
}

// peer finds the route of a session id of another node; nil for this node's ids, and
// those of no node known.
func (f *forwarder) peer(sid []byte) *peer {
	if len(sid) < tagLen {
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.peers[string(sid[:tagLen])]
}

// elsewhere reports whether sid names a session of another node of the cluster.
func (s *Server) elsewhere(sid []byte) bool {
	f := s.fwd.Load()
	return f != nil && f.peer(sid) != nil
}

// forwarded forwards a request for a session of another node to that node, and reports
// whether it did; false leaves it to be answered here (a session of this node's, or of no
// node known). A request that carries a hop key, right or wrong, is never forwarded again:
// nodes that disagree on their addresses cannot bounce a request between them.
func (s *Server) forwarded(ctx *fasthttp.RequestCtx, sid []byte, ip netip.Addr) bool {
	f := s.fwd.Load()
	if f == nil || len(ctx.Request.Header.Peek(hopKeyHeader)) > 0 {
		return false
	}
	p := f.peer(sid)
	if p == nil {
		return false
	}
	if max := int64(s.opts.MaxForwards); f.inflight.Add(1) > max && max > 0 {
		f.inflight.Add(-1)
		if s.OnRefuse != nil {
			s.OnRefuse(security.ForwardsFull, ip)
		}
		WriteRefusal(ctx, security.ForwardsFull)
		return true
	}
	st := &s.opts.Stats.Forwards
	switch {
	case !p.up():
		f.inflight.Add(-1)
		st.Failures.Add(1)
		writeError(ctx, errUnknownSid)
	case string(ctx.QueryArgs().Peek("transport")) == TransportWebSocket && isUpgradeRequest(ctx):
		if f.isDraining() {
			f.inflight.Add(-1)
			s.refuseUpgrade(ctx)
			return true
		}
		st.Upgrades.Add(1)
		f.upgrade(ctx, p, ip) // releases its place once the node has answered
	default:
		if ctx.IsPost() {
			st.Posts.Add(1)
		} else {
			st.Polls.Add(1)
		}
		f.request(ctx, p, ip)
		f.inflight.Add(-1)
	}
	return true
}

// request forwards a polling request (or anything but an upgrade) to p and answers the
// client with p's answer: its status, body, and the headers that describe the body. A
// node that cannot be reached, or does not answer in time, answers "Session ID unknown",
// which has a stock client reconnect.
func (f *forwarder) request(ctx *fasthttp.RequestCtx, p *peer, ip netip.Addr) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	ctx.Request.Header.CopyTo(&req.Header)
	req.Header.ResetConnectionClose() // the client's connection, not the hop's
	req.Header.Set(hopKeyHeader, p.Key)
	req.Header.Set(hopClientHeader, ip.String())
	req.SetBodyRaw(ctx.PostBody())
	timeout := forwardPostTimeout
	if ctx.IsGet() {
		// a poll waits for something to send at most this long (polling.go), the node's
		// heartbeat comes sooner
		o := f.srv.opts
		timeout = o.PingInterval + o.PingTimeout + forwardPostTimeout
		if hp := f.hold(p, ctx, ip); hp != nil {
			defer f.unhold(hp)
		} else {
			req.Header.Set(releaseHeader, "1") // draining: answered at once
		}
	}
	if err := p.client.DoTimeout(req, resp, timeout); err != nil {
		p.failed(err)
		f.srv.opts.Stats.Forwards.Failures.Add(1)
		writeError(ctx, errUnknownSid)
		return
	}
	ctx.SetStatusCode(resp.StatusCode())
	ctx.Response.Header.SetContentTypeBytes(resp.Header.ContentType())
	for _, h := range relayedHeaders {
		if v := resp.Header.Peek(h); len(v) > 0 {
			ctx.Response.Header.SetBytesV(h, v)
		}
	}
	if resp.ConnectionClose() {
		ctx.SetConnectionClose()
	}
	ctx.SetBody(resp.Body()) // compressed or not, as the node wrote it for this client
}

// relayedHeaders are the headers of a node's answer that go back to the client; the rest
// (CORS, Date, Server) are this node's own.
var relayedHeaders = []string{"Content-Encoding", "Retry-After"}

// randomString is n random bytes, base64url: 4 characters for every 3 bytes.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

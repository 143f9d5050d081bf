package server

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edgeio/server/engine"
	"edgeio/server/recovery"
	"edgeio/server/security"
	"edgeio/shard"

	"github.com/valyala/fasthttp"
)

// Server is a Socket.IO server. Create it with New, set up namespaces, then Serve.
type Server struct {
	opts       Options
	engine     *engine.Server
	shards     *shard.Group
	cors       corsPolicy
	metrics    *metrics
	adapter    atomic.Pointer[Adapter]
	recovery   stateRecovery // nil when recovery is off
	refusalLog refusalLog
	decoding   *decodeGate // nil when large packets need not take turns

	mu       sync.RWMutex
	nsps     map[string]*Namespace
	patterns []*Namespace
	mounts   map[string]fasthttp.RequestHandler

	http *fasthttp.Server
}

// New returns a Server with the main namespace "/" in place.
func New(opts Options) *Server {
	opts.fill()
	s := &Server{
		opts:     opts,
		engine:   engine.NewServer(opts.Engine),
		shards:   shard.New(opts.Shards, 4096),
		cors:     newCORSPolicy(opts.CORSOrigins, opts.RequireOrigin),
		nsps:     make(map[string]*Namespace),
		mounts:   make(map[string]fasthttp.RequestHandler),
		decoding: newDecodeGate(opts.MaxDecoding),
	}
	if l := recovery.New(opts.Recovery); l != nil {
		s.recovery = l
	}
	s.engine.OnOpen = s.newClient
	s.engine.OnRefusal = s.refusalAnswer
	s.engine.OnRefuse = s.refused
	s.metrics = newMetrics(s)
	s.Of("/")
	return s
}

// Engine is the Engine.IO server under the Socket.IO path.
func (s *Server) Engine() *engine.Server { return s.engine }

// Options returns the options in force.
func (s *Server) Options() Options { return s.opts }

// Of returns the namespace called name, creating it.
func (s *Server) Of(name string) *Namespace {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nsps[name]; n != nil {
		return n
	}
	n := newNamespace(s, name, nil)
	s.nsps[name] = n
	return n
}

// Lookup returns the namespace called name if it exists (or a dynamic pattern admits it),
// or nil; unlike Of it never creates a static one.
func (s *Server) Lookup(name string) *Namespace { return s.namespace(name) }

// OfPattern returns a parent for dynamic namespaces: a client that connects to a name
// matching re gets a child namespace of that name, which shares the parent's middleware and
// connection handlers.
func (s *Server) OfPattern(re *regexp.Regexp) *Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := newNamespace(s, re.String(), re)
	s.patterns = append(s.patterns, n)
	return n
}

// namespace finds the namespace a CONNECT names, creating a dynamic child when a pattern
// matches; nil when none does.
func (s *Server) namespace(name string) *Namespace {
	s.mu.RLock()
	n := s.nsps[name]
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nsps[name]; n != nil {
		return n
	}
	for _, p := range s.patterns {
		if p.pattern.MatchString(name) {
			n := newNamespace(s, name, nil)
			n.parent = p
			s.nsps[name] = n
			return n
		}
	}
	return nil
}

// Adapter carries broadcasts to the other nodes of a cluster (hub/cluster does, over Redis).
type Adapter interface {
	// Publish hands over a broadcast just delivered on this node: data is the event name
	// and its arguments, id its offset in this node's recovery log ("" when not logged),
	// which other nodes' logs keep (BroadcastOperator.From). It must not block.
	Publish(nsp string, rooms, except []string, data []any, volatile bool, id string)
}

// SetAdapter makes every broadcast that is not Local go to a as well.
func (s *Server) SetAdapter(a Adapter) { s.adapter.Store(&a) }

// To is io.to(rooms) on the main namespace.
func (s *Server) To(rooms ...string) *BroadcastOperator { return s.Of("/").To(rooms...) }

// Mount serves h for requests whose path starts with prefix (after CORS checks), beside the
// Socket.IO path.
func (s *Server) Mount(prefix string, h fasthttp.RequestHandler) {
	s.mu.Lock()
	s.mounts[prefix] = h
	s.mu.Unlock()
}

// Handler is the fasthttp handler of everything the server serves.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	var h fasthttp.RequestHandler
	isEngine := strings.HasPrefix(path, s.opts.Engine.Path) || path+"/" == s.opts.Engine.Path
	if isEngine {
		h = s.engine.ServeHTTP
	} else {
		s.mu.RLock()
		for prefix, m := range s.mounts {
			if strings.HasPrefix(path, prefix) || path+"/" == prefix {
				h = m
			}
		}
		s.mu.RUnlock()
	}
	if h == nil {
		ctx.Error("Not Found", fasthttp.StatusNotFound)
		return
	}
	if !s.cors.allowed(ctx) {
		if !isEngine || !s.cors.tellRefused(ctx, s.engine) {
			s.refused(security.ForeignOrigin, s.engine.ClientIP(ctx))
			engine.WriteRefusal(ctx, security.ForeignOrigin)
		}
		return
	}
	if s.cors.apply(ctx) {
		h(ctx)
	}
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	o := s.opts.Engine
	s.mu.Lock()
	s.http = &fasthttp.Server{
		Handler:            s.Handler,
		Name:               "edgeio",
		KeepHijackedConns:  true,
		MaxRequestBodySize: o.MaxPayload,
		ReadTimeout:        s.opts.RequestTimeout,
		IdleTimeout:        o.PingInterval + o.PingTimeout + 5*time.Second,
		ReadBufferSize:     4096,
		NoDefaultDate:      true,
		CloseOnShutdown:    true,
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			if oe, ok := err.(*net.OpError); ok && oe.Timeout() {
				// Nothing of a request arrived (fasthttp passes the bare read error then):
				// a connection opened and left unused, a browser's preconnect, is closed
				// quietly as Node does, not answered with a 400 nobody asked for.
				_ = ctx.Conn().Close()
				return
			}
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				s.Refused("payload_too_large")
			}
			engine.HTTPErrorHandler(ctx, err)
		},
	}
	srv := s.http
	s.mu.Unlock()
	return srv.Serve(ln)
}

// ListenAndServe listens on addr ("host:port") and serves.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Shutdown drains the server: new handshakes are refused (HTTP 503), every client is told
// the server is going away without a Socket.IO DISCONNECT (WebSocket close 1012 "service
// restart" after what is queued for it; polling: its queue, then the close packet), so that
// it reconnects, elsewhere if it can. The listener stays open for the polls that collect
// those last packets; it closes once every session is gone, then the shards stop. It
// returns when done or when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.RLock()
	srv := s.http
	s.mu.RUnlock()
	done := make(chan error, 1)
	go func() {
		s.engine.Close(engine.ReasonShutdown) // also answers waiting polls
		for s.engine.Len() > 0 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		if s.recovery != nil && s.recoveryPeers() != nil {
			s.recovery.AwaitTakeovers(ctx)
		}
		if srv != nil {
			// stops the listener and waits for open requests; hijacked WebSockets are ours
			_ = srv.Shutdown()
		}
		s.shards.Close()
		done <- nil
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// the sessions that did not collect their last packets are in the journal as
		// connected: the next process keeps them as if their connections had failed
		err = ctx.Err()
	}
	if s.recovery != nil {
		s.recovery.Close()
	}
	return err
}

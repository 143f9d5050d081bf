package engine

import (
	"net/netip"
	"sync"
	"time"

	"edgeio/codec"
	"edgeio/server/security"

	"github.com/valyala/fasthttp"
)

// A node that drains stops carrying requests for the other nodes' sessions, so that its
// drain waits on none of them: the polls it forwarded that wait there are released (their
// node answers them at once, with what is queued or a noop, and their clients poll again,
// through another node), later polls are forwarded as short ones (answered at once),
// the WebSockets it carries close (their clients reconnect and, if they asked for it,
// recover their state from the session's node), and upgrades are refused (their clients go
// on polling).

// releaseHeader marks a forwarded poll to be answered at once, and a forwarded POST with no
// body that makes the poll waiting on its session answer at once.
const releaseHeader = "X-Edgeio-Release"

// releaseWorkers bound the releases a drain sends at once.
const releaseWorkers = 8

// heldPoll is a poll forwarded to another node that waits there: what it takes to release it.
type heldPoll struct {
	p                 *peer
	client            netip.Addr
	uri, host, origin []byte
}

// hold notes a poll forwarded to p; nil when the node drains, and the poll must be short.
func (f *forwarder) hold(p *peer, ctx *fasthttp.RequestCtx, client netip.Addr) *heldPoll {
	hp := &heldPoll{p: p, client: client, uri: append([]byte(nil), ctx.RequestURI()...), host: append([]byte(nil), ctx.Host()...),
		origin: append([]byte(nil), ctx.Request.Header.Peek("Origin")...)}
	f.hmu.Lock()
	defer f.hmu.Unlock()
	if f.draining {
		return nil
	}
	f.held[hp] = struct{}{}
	return hp
}

func (f *forwarder) unhold(hp *heldPoll) {
	f.hmu.Lock()
	delete(f.held, hp)
	f.hmu.Unlock()
}

func (f *forwarder) isDraining() bool {
	f.hmu.Lock()
	defer f.hmu.Unlock()
	return f.draining
}

// drain releases the polls waiting on other nodes and closes the WebSockets carried there.
func (f *forwarder) drain() {
	f.hmu.Lock()
	f.draining = true
	polls := make(chan *heldPoll, len(f.held))
	for hp := range f.held {
		polls <- hp
	}
	close(polls)
	pipes := make([]*wsPipe, 0, len(f.pipes))
	for w := range f.pipes {
		pipes = append(pipes, w)
	}
	f.hmu.Unlock()
	var wg sync.WaitGroup
	for range min(releaseWorkers, len(polls)) {
		wg.Go(func() {
			for hp := range polls {
				f.release(hp)
			}
		})
	}
	for _, w := range pipes {
		w.close()
	}
	wg.Wait()
}

// release asks hp's node to answer the poll at once.
func (f *forwarder) release(hp *heldPoll) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(hp.uri)
	req.Header.SetHostBytes(hp.host)
	if len(hp.origin) > 0 {
		req.Header.SetBytesV("Origin", hp.origin)
	}
	req.Header.Set(hopKeyHeader, hp.p.Key)
	req.Header.Set(hopClientHeader, hp.client.String())
	req.Header.Set(releaseHeader, "1")
	_ = hp.p.client.DoTimeout(req, resp, time.Second)
}

// released reports whether ctx comes from another node of the cluster that drains: a poll
// to answer at once, or a POST that releases the session's waiting poll.
func (s *Server) released(ctx *fasthttp.RequestCtx) bool {
	f := s.fwd.Load()
	if f == nil || len(ctx.Request.Header.Peek(releaseHeader)) == 0 {
		return false
	}
	_, ok := f.hopClient(ctx)
	return ok
}

// releasePoll answers the session's waiting poll at once, with a noop after what is queued.
func (s *Session) releasePoll() {
	s.mu.Lock()
	if s.getActive && len(s.queue) == 0 {
		s.appendPolling(codec.EPacket{Type: codec.ENoop})
		s.signal()
	}
	s.mu.Unlock()
}

// refuseUpgrade answers an upgrade this draining node will not carry.
func (s *Server) refuseUpgrade(ctx *fasthttp.RequestCtx) {
	if s.OnRefuse != nil {
		s.OnRefuse(security.Draining, s.clientIP(ctx))
	}
	WriteRefusal(ctx, security.Draining)
}

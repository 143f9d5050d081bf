package engine

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// peer is another node: the connections to it, and whether it could be reached lately.
type peer struct {
	Route
	client   *fasthttp.HostClient
	downTill atomic.Int64 // unix nanoseconds: requests fail at once until then

	mu     sync.Mutex
	conns  map[*peerConn]struct{}
	closed bool
}

func newPeer(f *forwarder, r Route) *peer {
	p := &peer{Route: r, conns: make(map[*peerConn]struct{})}
	o := f.srv.opts
	max := o.MaxForwards
	if max <= 0 {
		max = 1 << 20
	}
	p.client = &fasthttp.HostClient{
		Addr: r.Addr,
		Dial: func(string) (net.Conn, error) {
			c, err := p.dial()
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		MaxConns:                  max,                                            // a poll holds one while it waits
		MaxIdleConnDuration:       min(forwardIdle, o.PingInterval+o.PingTimeout), // under the node's idle timeout
		MaxIdemponentCallAttempts: 2,
		// A request the node closed its connection on unread (an idle connection it was
		// closing) is sent again; any other failure is the client's to see.
		RetryIfErr: func(_ *fasthttp.Request, _ int, err error) (bool, bool) {
			return false, errors.Is(err, fasthttp.ErrConnectionClosed)
		},
		// what a poll answers is bounded by the node's --max-buffered, a POST's by --max-payload
		MaxResponseBodySize:      2 * (o.MaxBuffered + o.MaxPayload),
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
	}
	return p
}

// up reports whether p may be tried: it was not found gone a moment ago.
func (p *peer) up() bool { return time.Now().UnixNano() >= p.downTill.Load() }

// failed notes a failed forward: a node that could not be connected to is not tried again
// for forwardDownFor, so that its clients are answered at once meanwhile.
func (p *peer) failed(err error) {
	var dial *dialError
	if errors.As(err, &dial) {
		p.downTill.Store(time.Now().Add(forwardDownFor).UnixNano())
	}
}

// dialError is a failed connection to a node.
type dialError struct{ error }

func (e *dialError) Unwrap() error { return e.error }

// dial connects to p, keeping the connection in p's set until it closes.
func (p *peer) dial() (*peerConn, error) {
	nc, err := net.DialTimeout("tcp", p.Addr, forwardDialTimeout)
	if err != nil {
		return nil, &dialError{err}
	}
	c := &peerConn{Conn: nc, peer: p}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = nc.Close()
		return nil, &dialError{net.ErrClosed}
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	return c, nil
}

// close closes every connection to p: what waits on them fails at once.
func (p *peer) close() {
	p.mu.Lock()
	p.closed = true
	conns := make([]*peerConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	p.client.CloseIdleConnections()
}

// peerConn is a connection to another node, in its peer's set until it closes.
type peerConn struct {
	net.Conn
	peer *peer

	mu     sync.Mutex
	closed bool
	pipe   *wsPipe // once it carries a WebSocket, it closes through its pipe
}

// Close closes the connection: the pipe it carries, if it carries one.
func (c *peerConn) Close() error {
	c.mu.Lock()
	pipe, already := c.pipe, c.closed
	c.closed = true
	c.mu.Unlock()
	switch {
	case pipe != nil:
		pipe.close()
	case !already:
		c.peer.forget(c)
		return c.Conn.Close()
	}
	return nil
}

// carry makes the connection a side of w; false when it was closed already.
func (c *peerConn) carry(w *wsPipe) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.pipe = w
	return true
}

// forget takes c out of p's set.
func (p *peer) forget(c *peerConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

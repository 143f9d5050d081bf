package cluster

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgeio/hub/internal/redistest"

	"github.com/redis/go-redis/v9"
)

// The tests run real redis-server processes on loopback ports, started and stopped by the
// tests themselves. Without redis-server installed they skip, unless CI is set.

// newClient is a go-redis client with timeouts short enough that a lost Redis fails calls
// quickly.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		MaxRetries: 1, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startRedis and friends come from redistest, shared with the store's tests.
func startRedis(t testing.TB, extra ...string) *redistest.Server { return redistest.Start(t, extra...) }

func startRedisCluster(t testing.TB) []string {
	_, addrs := redistest.StartCluster(t)
	return addrs
}

// proxy forwards TCP connections to a Redis server; Cut drops every connection and refuses
// new ones (they are closed at once) until Restore, so that a node behind it goes silent.
// HoldSubscribe makes a connection's first (S)SUBSCRIBE reach Redis late, as a slow or
// reconnecting pub/sub connection would.
type proxy struct {
	t      testing.TB
	target string
	ln     net.Listener
	hold   atomic.Int64 // how long to hold a connection's first subscribe

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, ln: ln, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.conns[up] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, up, false)
		go p.pipe(up, c, true)
	}
}

func (p *proxy) pipe(dst, src net.Conn, toRedis bool) {
	defer p.wg.Done()
	held := !toRedis
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !held && bytes.Contains(bytes.ToLower(buf[:n]), []byte("subscribe")) {
				held = true
				time.Sleep(time.Duration(p.hold.Load()))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut closes every forwarded connection and refuses new ones.
func (p *proxy) Cut() {
	p.mu.Lock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
}

// HoldSubscribe holds for d the first (S)SUBSCRIBE of each connection that has not
// subscribed yet (a pub/sub connection made after a cut or a Redis restart).
func (p *proxy) HoldSubscribe(d time.Duration) { p.hold.Store(int64(d)) }

// Restore forwards new connections again.
func (p *proxy) Restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

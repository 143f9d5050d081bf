package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	gostrings "strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests run real redis-server processes on loopback ports, started and stopped by the
// tests themselves. Without redis-server installed they skip, unless CI is set.

// redisServer is one redis-server process that a test may stop and start again on the
// same port.
type redisServer struct {
	t     testing.TB
	bin   string
	dir   string
	port  int
	extra []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func lookBinary(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (and CI is set): %v", name, err)
		}
		t.Skipf("%s is not installed: %v", name, err)
	}
	return bin
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis runs a redis-server without persistence on a free port; it is killed when the
// test ends.
func startRedis(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	r := &redisServer{t: t, bin: lookBinary(t, "redis-server"), dir: t.TempDir(), extra: extra}
	for attempt := 0; ; attempt++ {
		r.port = freePort(t)
		err := r.launch()
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("redis-server: %v", err)
		}
	}
	t.Cleanup(r.stop)
	return r
}

// restart starts the server again on its port, after stop.
func (r *redisServer) restart() {
	r.t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = r.launch(); err == nil {
			return
		}
	}
	r.t.Fatalf("restart redis-server on %d: %v", r.port, err)
}

func (r *redisServer) launch() error {
	args := append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log")}, r.extra...)
	cmd := exec.Command(r.bin, args...)
	dieWithTest(cmd)
	// Pdeathsig follows the thread that started the child: keep it for the start (the
	// runtime does not end threads that are not locked).
	runtime.LockOSThread()
	err := cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.mu.Lock()
			r.cmd = nil
			r.mu.Unlock()
			return fmt.Errorf("exited: %s", log)
		default:
		}
		if c.Ping(context.Background()).Err() == nil {
			return nil
		}
	}
	r.stop()
	return errors.New("no answer to PING")
}

// stop kills the server and waits for it to exit.
func (r *redisServer) stop() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

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

// startRedisCluster runs three redis-server masters joined into a Redis Cluster and waits
// until every node reports cluster_state:ok.
func startRedisCluster(t testing.TB) []string {
	t.Helper()
	cli := lookBinary(t, "redis-cli")
	var addrs []string
	for i := 0; i < 3; i++ {
		r := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
		addrs = append(addrs, r.addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		ok := false
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && gostrings.Contains(info, "cluster_state:ok") {
				ok = true
				break
			}
		}
		_ = c.Close()
		if !ok {
			t.Fatalf("Redis Cluster node %s never reached cluster_state:ok", a)
		}
	}
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

func (p *proxy) addr() string { return p.ln.Addr().String() }

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

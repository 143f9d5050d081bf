// Package redistest runs throw-away redis-server processes (and three-master Redis
// Clusters, with replicas if asked) on loopback ports for tests, and stops them when the test ends. Without
// redis-server installed a test skips, unless the CI environment variable is set.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process that a test may stop, pause and start again on the
// same port.
type Server struct {
	t     testing.TB
	bin   string
	dir   string
	port  int
	extra []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary finds a program of Debian's redis-server package, or skips the test (fails it
// under CI).
func Binary(t testing.TB, name string) string {
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

// FreePort is a port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs a redis-server without persistence (unless extra says otherwise: later
// arguments win) in a temporary directory on a free port.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t, "redis-server"), dir: t.TempDir(), extra: extra}
	for attempt := 0; ; attempt++ {
		s.port = FreePort(t)
		err := s.launch()
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("redis-server: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Restart starts the server again on its port and directory, after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = s.launch(); err == nil {
			return
		}
	}
	s.t.Fatalf("restart redis-server on %d: %v", s.port, err)
}

func (s *Server) launch() error {
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log")}, s.extra...)
	cmd := exec.Command(s.bin, args...)
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
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("exited: %s", log)
		default:
		}
		if c.Ping(context.Background()).Err() == nil {
			return nil
		}
	}
	s.Stop()
	return errors.New("no answer to PING")
}

// Stop kills the server (a paused one too) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Kill()
	<-done
}

// Signal sends sig to the server (SIGSTOP freezes it: reads time out).
func (s *Server) Signal(sig os.Signal) {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		s.t.Fatal("signal to a stopped redis-server")
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// StartCluster runs three masters, joins them with redis-cli --cluster create and waits
// until every node reports cluster_state:ok.
func StartCluster(t testing.TB) ([]*Server, []string) {
	t.Helper()
	return StartClusterWithReplicas(t, 0)
}

// StartClusterWithReplicas is StartCluster with that many replicas of each master (the
// first three servers are the masters); a replica takes over when its master fails.
func StartClusterWithReplicas(t testing.TB, replicas int) ([]*Server, []string) {
	t.Helper()
	cli := Binary(t, "redis-cli")
	var nodes []*Server
	var addrs []string
	for range 3 * (1 + replicas) {
		// the cluster config file is relative to --dir: one per node, in its own directory
		// validity factor 0: a replica takes over however long ago it last heard from its
		// master (with an idle master that is often long enough to be refused otherwise)
		s := Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-replica-validity-factor", "0")
		nodes = append(nodes, s)
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		var info string
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(info, "cluster_state:ok"); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				_ = c.Close()
				t.Fatalf("Redis Cluster node %s never reached cluster_state:ok: %s", a, info)
			}
			info, _ = c.ClusterInfo(context.Background()).Result()
		}
		_ = c.Close()
	}
	return nodes, addrs
}

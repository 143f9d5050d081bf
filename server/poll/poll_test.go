//go:build unix

package poll

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

type chanReader struct {
	sock *Socket
	got  chan string
}

func (r *chanReader) OnReadable(buf []byte) {
	n, err := r.sock.ReadOnce(buf)
	switch {
	case err == io.EOF:
		r.got <- "EOF"
	case err != nil:
		r.got <- "error"
	case n > 0:
		r.got <- string(buf[:n])
	}
}

func rawOf(t *testing.T, c *net.TCPConn) syscall.RawConn {
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestPollerReadsPausesAndSeesTheEnd(t *testing.T) {
	server, client := tcpPair(t)
	raw := rawOf(t, server)
	fd := FD(raw)
	p := For(fd)
	if p == nil {
		t.Skip("no epoll here")
	}
	r := &chanReader{sock: NewSocket(raw), got: make(chan string, 16)}
	if err := p.Add(fd, r); err != nil {
		t.Fatal(err)
	}
	next := func() string {
		select {
		case s := <-r.got:
			return s
		case <-time.After(2 * time.Second):
			return "nothing"
		}
	}
	_, _ = client.Write([]byte("hello"))
	if s := next(); s != "hello" {
		t.Fatalf("read %q", s)
	}
	p.Pause(fd)
	_, _ = client.Write([]byte("later"))
	select {
	case s := <-r.got:
		t.Fatalf("read %q while paused", s)
	case <-time.After(100 * time.Millisecond):
	}
	p.Resume(fd)
	if s := next(); s != "later" {
		t.Fatalf("after resume: %q", s)
	}
	_ = client.Close()
	if s := next(); s != "EOF" {
		t.Fatalf("after the peer closed: %q", s)
	}
	p.Remove(fd, r)
}

func TestWriteFDTakesWhatFitsAndReadOnceNothingYet(t *testing.T) {
	server, client := tcpPair(t)
	_ = server.SetWriteBuffer(4096)
	fd := FD(rawOf(t, server))
	if n := WriteFD(fd, []byte("hi")); n != 2 {
		t.Fatalf("wrote %d of 2", n)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
	// nobody reads: a large write is taken in part, then not at all, and never blocks
	big := make([]byte, 8<<20)
	first := WriteFD(fd, big)
	if first <= 0 || first >= len(big) {
		t.Fatalf("first write took %d of %d", first, len(big))
	}
	for WriteFD(fd, big) > 0 {
	}
	// nothing waiting to be read: zero bytes and no error
	sock := NewSocket(rawOf(t, server))
	n, err := sock.ReadOnce(make([]byte, 16))
	if n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}
	_ = server.Close()
	if _, err := sock.ReadOnce(make([]byte, 16)); err == nil {
		t.Fatal("read after close succeeded")
	}
}

package server

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// A connection that never sends a request is closed without a word once the request
// timeout passes; a request that starts and stalls still gets its 400.
func TestUnusedConnectionIsClosedQuietly(t *testing.T) {
	srv := newTestServer(t, Options{RequestTimeout: 200 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	read := func(send string) string {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if send != "" {
			_, _ = c.Write([]byte(send))
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("the server did not close the connection: %v", err)
		}
		return string(b)
	}
	if got := read(""); got != "" {
		t.Fatalf("an unused connection was answered %q", got)
	}
	if got := read("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"); len(got) < 12 || got[:12] != "HTTP/1.1 400" {
		t.Fatalf("a stalled request was answered %q", got)
	}
}

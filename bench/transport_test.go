package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDialErrors: nothing listens on the port, over each transport.
func TestDialErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, tr := range []string{TransportWebSocket, TransportPolling} {
		cfg := Config{URL: "http://" + addr, Conns: 2, Rate: 1000, RoomSize: 2, Duration: time.Second,
			MaxTime: 10 * time.Second, ConnectTimeout: time.Second, Transport: tr, Parser: ParserJSON,
			JWTSecret: "s", SourceIPs: "127.0.0.2", Quiet: true}
		rep, err := Run(context.Background(), cfg, nil)
		if err == nil || rep.Connections.Failed != 2 || rep.Errors["connect DIAL"] != 2 {
			t.Fatalf("%s: %v %+v %v", tr, err, rep.Connections, rep.Errors)
		}
	}
}

func TestWSCloseReason(t *testing.T) {
	for err, want := range map[error]string{
		wsClosed(1001):                       "ws close 1001",
		io.EOF:                               "transport close",
		&net.OpError{Err: errors.New("rst")}: "transport error",
		errors.New("other"):                  "transport close",
	} {
		if got := wsCloseReason(err); got != want {
			t.Errorf("wsCloseReason(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestHTTPReasons(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{400, `{"code":1,"message":"Session ID unknown"}`, "polling HTTP 400 Session ID unknown"},
		{400, "Bad Request", "polling HTTP 400 Bad Request"},
		{503, "", "polling HTTP 503"},
	} {
		if got := httpStatusReason(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("httpStatusReason(%d, %q) = %q", tc.status, tc.body, got)
		}
	}
	dial := &net.OpError{Op: "dial", Err: errors.New("refused")}
	if httpErrorCode(dial) != "DIAL" || httpErrorCode(context.DeadlineExceeded) != "CONNECT_TIMEOUT" ||
		httpErrorCode(io.EOF) != "HANDSHAKE" {
		t.Fatal("httpErrorCode")
	}
}

func TestProgress(t *testing.T) {
	r := testRun(t, false)
	r.cfg.Duration = time.Minute
	r.setPhase("send")
	r.connected.Store(2)
	r.errors.add("x", 3)
	line := r.progressLine()
	for _, want := range []string{"bench send", "conns 2/2", "errors 3", "[....................]   0%"} {
		if !strings.Contains(line, want) {
			t.Fatalf("progress line %q lacks %q", line, want)
		}
	}
	r.setPhase("connect")
	r.connected.Store(1) // of 2
	if line := r.progressLine(); !strings.Contains(line, "[##########..........]  50%") {
		t.Fatalf("half connected: %q", line)
	}
	r.cfg.Warmup = 100 * time.Millisecond
	r.setPhase("warmup")
	time.Sleep(150 * time.Millisecond)
	if line := r.progressLine(); !strings.Contains(line, "[####################] 100%") {
		t.Fatalf("warmup over: %q", line)
	}
	var buf bytes.Buffer
	stop := r.startProgress(&buf)
	stop()
	if isTerminal(&buf) {
		t.Fatal("a buffer is not a terminal")
	}
	r.noteOnce("n")
	r.noteOnce("n")
	if len(r.notes) != 1 {
		t.Fatalf("notes %v", r.notes)
	}
}

// Frames that arrive in the same read as the upgrade's response are kept for the reader.
func TestHandshakeTapKeepsEarlyFrames(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	frame := []byte{0x81, 0x01, '2'}
	go func() {
		_, _ = server.Write(append([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), frame...))
		server.Close()
	}()
	tap := &handshakeTap{Conn: client}
	resp, err := http.ReadResponse(bufio.NewReader(tap), nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("response %v %v", resp, err)
	}
	if got := tap.early(); !bytes.Equal(got, frame) {
		t.Fatalf("early bytes %q, want %q", got, frame)
	}
	if tap.early() != nil {
		t.Fatal("early bytes are handed out once")
	}
}

package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"edgeio/codec"

	"github.com/lxzan/gws"
	"github.com/valyala/fasthttp"
)

// echoHandler sends every message back and records the close reason.
type echoHandler struct {
	sess   *Session
	closed chan string
}

func (h *echoHandler) OnMessage(data []byte, binary bool) {
	h.sess.SendMessage(append([]byte(nil), data...), binary)
}
func (h *echoHandler) OnClose(reason string) { h.closed <- reason }

type testServer struct {
	srv    *Server
	url    string
	ws     string
	closed chan string
}

func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	return startServerWith(t, opts, &net.ListenConfig{})
}

func startServerWith(t testing.TB, opts Options, lc *net.ListenConfig) *testServer {
	t.Helper()
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(opts)
	ts := &testServer{srv: srv, closed: make(chan string, 16)}
	srv.OnOpen = func(s *Session) Handler { return &echoHandler{sess: s, closed: ts.closed} }
	hs := &fasthttp.Server{Handler: srv.ServeHTTP, KeepHijackedConns: true, MaxRequestBodySize: srv.opts.MaxPayload, ErrorHandler: HTTPErrorHandler}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close(ReasonShutdown)
		_ = hs.Shutdown()
	})
	ts.url = "http://" + ln.Addr().String() + "/engine.io/?EIO=4&transport=polling"
	ts.ws = "ws://" + ln.Addr().String() + "/engine.io/?EIO=4&transport=websocket"
	return ts
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// handshake opens a polling session and returns its sid.
func (ts *testServer) handshake(t testing.TB) string {
	t.Helper()
	code, body := get(t, ts.url)
	if code != 200 || !strings.HasPrefix(body, `0{"sid":"`) {
		t.Fatalf("handshake: %d %q", code, body)
	}
	sid := body[len(`0{"sid":"`):]
	return sid[:strings.IndexByte(sid, '"')]
}

func TestPollingHandshakeAndEcho(t *testing.T) {
	ts := startServer(t, Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	code, body := get(t, ts.url)
	want := `","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`
	if code != 200 || !strings.HasPrefix(body, `0{"sid":"`) || !strings.HasSuffix(body, want) {
		t.Fatalf("handshake: %d %q", code, body)
	}
	sid := strings.TrimPrefix(strings.TrimSuffix(body, want), `0{"sid":"`)
	u := ts.url + "&sid=" + sid
	if code, body := post(t, u, "4hello\x1ebAQIDBA=="); code != 200 || body != "ok" {
		t.Fatalf("post: %d %q", code, body)
	}
	if code, body := get(t, u); code != 200 || body != "4hello\x1ebAQIDBA==" {
		t.Fatalf("poll: %d %q", code, body)
	}
	// the next poll waits for the server's ping
	start := time.Now()
	if _, body := get(t, u); body != "2" || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("poll got %q after %v, want the ping after ~300ms", body, time.Since(start))
	}
	post(t, u, "3")
	if _, body := get(t, u); body != "2" {
		t.Fatalf("second ping: %q", body)
	}
	// no pong: the session times out
	select {
	case r := <-ts.closed:
		if r != "ping timeout" {
			t.Fatalf("close reason %q", r)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no ping timeout")
	}
	if code, body := get(t, u); code != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("poll after close: %d %q", code, body)
	}
}

func TestHTTPErrors(t *testing.T) {
	ts := startServer(t, Options{})
	base := strings.TrimSuffix(ts.url, "?EIO=4&transport=polling")
	cases := []struct{ query, want string }{
		{"?EIO=4&transport=carrier-pigeon", `{"code":0,"message":"Transport unknown"}`},
		{"?EIO=4&transport=polling&sid=nope", `{"code":1,"message":"Session ID unknown"}`},
		{"?EIO=3&transport=polling", `{"code":5,"message":"Unsupported protocol version"}`},
		{"?transport=polling", `{"code":5,"message":"Unsupported protocol version"}`},
		{"?EIO=4&transport=websocket", `{"code":3,"message":"Bad request"}`},
	}
	for _, c := range cases {
		if code, body := get(t, base+c.query); code != 400 || body != c.want {
			t.Errorf("%s: %d %q, want 400 %s", c.query, code, body, c.want)
		}
	}
	if code, body := post(t, ts.url, "4x"); code != 400 || body != `{"code":2,"message":"Bad handshake method"}` {
		t.Errorf("POST handshake: %d %q", code, body)
	}
	sid := ts.handshake(t)
	req, _ := http.NewRequest(http.MethodPut, ts.url+"&sid="+sid, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 400 {
		t.Errorf("PUT: %v %v", resp, err)
	}
}

func TestBadPollingBodyClosesOnlyThatSession(t *testing.T) {
	ts := startServer(t, Options{MaxPayload: 1000})
	good, bad := ts.handshake(t), ts.handshake(t)
	if code, _ := post(t, ts.url+"&sid="+bad, "9\x1e"); code != 400 {
		t.Fatalf("garbage body: %d, want 400", code)
	}
	if r := <-ts.closed; r != "parse error" {
		t.Fatalf("reason %q", r)
	}
	if code, _ := post(t, ts.url+"&sid="+good, strings.Repeat("4", 2000)); code != 413 {
		t.Fatalf("oversized body: %d, want 413", code)
	}
	if code, body := post(t, ts.url+"&sid="+good, "4still here"); code != 200 || body != "ok" {
		t.Fatalf("good session after attacks: %d %q", code, body)
	}
	if _, body := get(t, ts.url+"&sid="+good); body != "4still here" {
		t.Fatalf("echo: %q", body)
	}
}

func TestOverlappingPollsCloseTheSession(t *testing.T) {
	ts := startServer(t, Options{})
	sid := ts.handshake(t)
	u := ts.url + "&sid=" + sid
	first := make(chan string, 1)
	go func() {
		_, body := get(t, u)
		first <- body
	}()
	time.Sleep(50 * time.Millisecond)
	if code, _ := get(t, u); code != 400 {
		t.Fatalf("second GET: %d, want 400", code)
	}
	if r := <-ts.closed; r != "transport error" {
		t.Fatalf("reason %q", r)
	}
	if body := <-first; body != "1" {
		t.Fatalf("waiting poll got %q, want the close packet", body)
	}
}

func TestGzipOnLargePollingResponses(t *testing.T) {
	ts := startServer(t, Options{})
	sid := ts.handshake(t)
	u := ts.url + "&sid=" + sid
	msg := "4" + strings.Repeat("compressible ", 200)
	post(t, u, msg)
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	if string(b) != msg {
		t.Fatalf("decompressed %d bytes, want the message back", len(b))
	}
}

// wsClient collects what a gws client receives.
type wsClient struct {
	gws.BuiltinEventHandler
	conn   *gws.Conn
	mu     sync.Mutex
	msgs   []string
	got    chan struct{}
	closed chan struct{}
}

func (c *wsClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	prefix := ""
	if m.Opcode == gws.OpcodeBinary {
		prefix = "bin:"
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, prefix+m.Data.String())
	c.mu.Unlock()
	m.Close()
	select {
	case c.got <- struct{}{}:
	default:
	}
}
func (c *wsClient) OnClose(*gws.Conn, error) { close(c.closed) }

func dialWS(t *testing.T, url string, compress bool) *wsClient {
	t.Helper()
	c := &wsClient{got: make(chan struct{}, 1), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: url, PermessageDeflate: gws.PermessageDeflate{Enabled: compress}})
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() { _ = conn.NetConn().Close() })
	return c
}

// next waits for the i-th message.
func (c *wsClient) next(t *testing.T, i int) string {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		c.mu.Lock()
		if len(c.msgs) > i {
			m := c.msgs[i]
			c.mu.Unlock()
			return m
		}
		c.mu.Unlock()
		select {
		case <-c.got:
		case <-c.closed:
			t.Fatalf("connection closed waiting for message %d", i)
		case <-deadline:
			t.Fatalf("no message %d", i)
		}
	}
}

func TestWebSocketSessionWithCompression(t *testing.T) {
	ts := startServer(t, Options{PingInterval: 200 * time.Millisecond, PingTimeout: 100 * time.Millisecond, CompressThreshold: 16})
	c := dialWS(t, ts.ws, true)
	if open := c.next(t, 0); !strings.HasPrefix(open, `0{"sid":"`) || !strings.Contains(open, `"upgrades":[]`) {
		t.Fatalf("open = %q", open)
	}
	big := "4" + strings.Repeat("z", 5000)
	_ = c.conn.WriteString(big)
	_ = c.conn.WriteMessage(gws.OpcodeBinary, []byte{1, 2, 3})
	if m := c.next(t, 1); m != big {
		t.Fatalf("echo of a compressed message: %d bytes", len(m))
	}
	if m := c.next(t, 2); m != "bin:\x01\x02\x03" {
		t.Fatalf("binary echo %q", m)
	}
	if m := c.next(t, 3); m != "2" {
		t.Fatalf("ping %q", m)
	}
	// never answering: the server closes
	select {
	case <-c.closed:
	case <-time.After(2 * time.Second):
		t.Fatal("server kept a silent client")
	}
	if r := <-ts.closed; r != "ping timeout" {
		t.Fatalf("reason %q", r)
	}
}

func TestWebSocketFrameOverMaxPayloadClosesIt(t *testing.T) {
	ts := startServer(t, Options{MaxPayload: 100})
	c := dialWS(t, ts.ws, false)
	c.next(t, 0)
	_ = c.conn.WriteString("4" + strings.Repeat("x", 200))
	select {
	case <-c.closed:
	case <-time.After(2 * time.Second):
		t.Fatal("oversized frame did not close the connection")
	}
}

func TestUpgradeFromPolling(t *testing.T) {
	ts := startServer(t, Options{})
	sid := ts.handshake(t)
	u := ts.url + "&sid=" + sid
	waiting := make(chan string, 1)
	go func() {
		_, body := get(t, u)
		waiting <- body
	}()
	time.Sleep(30 * time.Millisecond)
	c := dialWS(t, ts.ws+"&sid="+sid, false)
	_ = c.conn.WriteString("2probe")
	if m := c.next(t, 0); m != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	if body := <-waiting; body != "6" {
		t.Fatalf("pending poll got %q, want noop", body)
	}
	post(t, u, "4queued before upgrade")
	_ = c.conn.WriteString("5")
	if m := c.next(t, 1); m != "4queued before upgrade" {
		t.Fatalf("after upgrade %q", m)
	}
	_ = c.conn.WriteString("4over ws")
	if m := c.next(t, 2); m != "4over ws" {
		t.Fatalf("echo over ws %q", m)
	}
	if code, _ := get(t, u); code != 400 {
		t.Fatalf("polling after upgrade: %d, want 400", code)
	}
}

func TestEngineIOv3(t *testing.T) {
	ts := startServer(t, Options{AllowEIO3: true, PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	u3 := strings.Replace(ts.url, "EIO=4", "EIO=3", 1)
	code, body := get(t, u3)
	if code != 200 || !strings.Contains(body, `:0{"sid":"`) || strings.Contains(body, "maxPayload") {
		t.Fatalf("v3 handshake %d %q", code, body)
	}
	i := strings.Index(body, `"sid":"`) + 7
	sid := body[i : i+strings.IndexByte(body[i:], '"')]
	u := u3 + "&sid=" + sid
	post(t, u, "6:4hello2:4€1:2")
	if _, body := get(t, u); body != "6:4hello2:4€1:3" {
		t.Fatalf("v3 echo and pong %q", body)
	}
	// a binary message goes out as an XHR2 binary payload unless b64 is asked for
	post(t, u, "b4AQID") // wrong: v3 string payloads need a length
	if r := <-ts.closed; r != "parse error" {
		t.Fatalf("reason %q", r)
	}

	_, body = get(t, u3)
	i = strings.Index(body, `"sid":"`) + 7
	sid = body[i : i+strings.IndexByte(body[i:], '"')]
	u = u3 + "&sid=" + sid
	post(t, u, fmt.Sprintf("%d:b4AQID", len("b4AQID")))
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/octet-stream" || !bytes.Equal(b, []byte{1, 4, 0xff, 4, 1, 2, 3}) {
		t.Fatalf("binary payload %q %v", resp.Header.Get("Content-Type"), b)
	}
	// b64 is asked for at the handshake and holds for the session
	_, body = get(t, u3+"&b64=1")
	i = strings.Index(body, `"sid":"`) + 7
	u = u3 + "&sid=" + body[i:i+strings.IndexByte(body[i:], '"')]
	post(t, u, fmt.Sprintf("%d:b4AQID", len("b4AQID")))
	if _, body := get(t, u); body != "6:b4AQID" {
		t.Fatalf("b64 payload %q", body)
	}
}

func TestCloseAnswersWaitingPollWithClose(t *testing.T) {
	ts := startServer(t, Options{})
	sid := ts.handshake(t)
	got := make(chan string, 1)
	go func() {
		_, body := get(t, ts.url+"&sid="+sid)
		got <- body
	}()
	time.Sleep(30 * time.Millisecond)
	ts.srv.Close(ReasonShutdown)
	if body := <-got; body != "1" {
		t.Fatalf("poll got %q", body)
	}
	if r := <-ts.closed; r != ReasonShutdown {
		t.Fatalf("reason %q", r)
	}
	if code, _ := get(t, ts.url); code != 503 {
		t.Fatalf("handshake while closing: %d, want 503", code)
	}
	_ = codec.EOpen
}

// A polling session the server closes with packets still queued gets them in one poll and
// the close packet in the next (socket.io-client handles a response's messages only after
// its close packet); the poll after that finds no session.
func TestPollingServerCloseSendsQueueThenClose(t *testing.T) {
	ts := startServer(t, Options{})
	sid := ts.handshake(t)
	sess := ts.srv.lookup(sid)
	sess.SendMessage([]byte("goodbye"), false)
	sess.Close("kicked")
	u := ts.url + "&sid=" + sid
	for i, want := range []string{"4goodbye", "1"} {
		if code, body := get(t, u); code != 200 || body != want {
			t.Fatalf("poll %d: %d %q, want %q", i, code, body, want)
		}
	}
	if code, body := get(t, u); code != 400 || !strings.Contains(body, "Session ID unknown") {
		t.Fatalf("poll after the close packet: %d %q", code, body)
	}
}

// engagement is a handler that says whether its client engaged (Engaged).
type engagement bool

func (engagement) OnMessage([]byte, bool) {}
func (engagement) OnClose(string)         {}
func (e engagement) Engaged() bool        { return bool(e) }

// Close (the drain) forgets at once the polling sessions whose client never engaged, open
// or closed already and waiting for a poll; an engaged one waits for its last poll. A
// closed session is not counted among the open ones, waiting or not.
func TestCloseForgetsSessionsThatNeverEngaged(t *testing.T) {
	srv := NewServer(Options{PingInterval: time.Minute})
	srv.OnOpen = func(s *Session) Handler { return engagement(s.Request.RemoteAddr == "127.0.0.1:1") }
	engaged := srv.Attach(4, "127.0.0.1:1")
	engaged.Drain() // its open packet: polled
	closedIdle := srv.Attach(4, "127.0.0.1:2")
	srv.Attach(4, "127.0.0.1:3") // open and idle
	closedIdle.Close("forced server close")
	if p, w := srv.Transports(); p != 2 || w != 0 {
		t.Fatalf("open sessions by transport: %d polling, %d websocket; want 2 polling (a closed one waits for its poll, uncounted)", p, w)
	}
	srv.Close(ReasonShutdown)
	if n := srv.Len(); n != 1 {
		t.Fatalf("%d sessions held after Close, want the engaged one alone", n)
	}
	if p, _ := srv.Transports(); p != 0 {
		t.Fatalf("%d polling sessions counted after Close", p)
	}
	if pkts := engaged.Drain(); len(pkts) != 1 || pkts[0].Type != codec.EClose {
		t.Fatalf("the engaged client's last poll: %v, want the close packet", pkts)
	}
	if n := srv.Len(); n != 0 {
		t.Fatalf("%d sessions held once the engaged client collected its close packet", n)
	}
}

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"edgeio/codec"
)

// pollTransport is Engine.IO v4 long-polling: a GET loop receives, POSTs send. Like the
// JavaScript client it never has two POSTs in flight: packets written meanwhile wait in
// pending and go out together (joined by 0x1e) when the current POST returns.
type pollTransport struct {
	c      *conn
	hc     *http.Client
	url    string // with sid
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	pending  []byte
	out      []byte // the body in flight; flusher only
	inflight bool
	closed   bool
}

// newHTTPClient makes the client of one source address. A polling connection holds up to
// two HTTP connections (its GET and a POST), so the idle pool is sized for all of them.
func newHTTPClient(local netip.Addr, conns int, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if local.IsValid() {
		d.LocalAddr = tcpAddr(local)
	}
	return &http.Client{Transport: &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 2*conns + 16,
		// Short, so that a connection dialled for a request that then went out on another
		// one never sits unused long enough for the server to give up on it: edgeio's
		// fasthttp answers "400 Bad Request" to a connection silent for 10 s, and that
		// answer can race a request sent on it at that moment.
		IdleConnTimeout:    5 * time.Second,
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
	}}
}

// dialPolling does the Engine.IO handshake GET, sends CONNECT and starts the poll loop.
func (r *run) dialPolling(ctx context.Context, c *conn, src int, pollURL string) error {
	hc := r.httpClient(src)
	hctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	body, status, err := doHTTP(hctx, hc, http.MethodGet, pollURL, nil)
	if err != nil {
		return connectError(httpErrorCode(err))
	}
	if status != http.StatusOK {
		return connectError("HTTP " + strconv.Itoa(status))
	}
	pkts, err := codec.DecodeV4Payload(body)
	if err != nil || len(pkts) == 0 || pkts[0].Type != codec.EOpen {
		return connectError("HANDSHAKE")
	}
	var open struct {
		SID string `json:"sid"`
	}
	if json.Unmarshal(pkts[0].Data, &open) != nil || open.SID == "" {
		return connectError("HANDSHAKE")
	}
	t := &pollTransport{c: c, hc: hc, url: pollURL + "&sid=" + url.QueryEscape(open.SID)}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	c.tr = t
	if err := t.write(c.connectPkt, r.msgpack); err != nil {
		return connectError("WRITE")
	}
	// Packets that came with the open packet (none from a v4 server, but allowed).
	for _, p := range pkts[1:] {
		c.onEngine(p.Type, p.Data, p.Binary)
	}
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		t.loop()
	}()
	return nil
}

// loop long-polls until the session ends.
func (t *pollTransport) loop() {
	var buf bytes.Buffer
	for {
		req, err := http.NewRequestWithContext(t.ctx, http.MethodGet, t.url, nil)
		if err != nil {
			t.c.lost("polling error")
			return
		}
		resp, err := t.hc.Do(req)
		if err != nil {
			t.c.lost("transport error")
			return
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.c.lost("transport error")
			return
		}
		if resp.StatusCode != http.StatusOK {
			t.c.lost(httpStatusReason(resp.StatusCode, buf.Bytes()))
			return
		}
		pkts, err := codec.DecodeV4Payload(buf.Bytes())
		if err != nil {
			t.c.r.errors.add("decode", 1)
			continue
		}
		for _, p := range pkts {
			t.c.onEngine(p.Type, p.Data, p.Binary)
			if p.Type == codec.EClose {
				return
			}
		}
		if t.c.state.Load() == stDead {
			return
		}
	}
}

func (t *pollTransport) write(b []byte, binary bool) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return errConnClosed
	}
	if len(t.pending) > 0 {
		t.pending = append(t.pending, 0x1e)
	}
	if binary {
		t.pending = codec.AppendText(t.pending, codec.EPacket{Type: codec.EMessage, Data: b, Binary: true})
	} else {
		t.pending = append(t.pending, b...)
	}
	start := !t.inflight
	t.inflight = true
	t.mu.Unlock()
	if start {
		go t.flush()
	}
	return nil
}

// flush POSTs pending packets until none are left.
func (t *pollTransport) flush() {
	for {
		t.mu.Lock()
		if len(t.pending) == 0 || t.closed {
			t.inflight = false
			t.mu.Unlock()
			return
		}
		t.pending, t.out = t.out[:0], t.pending
		t.mu.Unlock()
		body, status, err := doHTTP(t.ctx, t.hc, http.MethodPost, t.url, t.out)
		switch {
		case err != nil:
			t.c.lost("transport error")
			return
		case status != http.StatusOK:
			t.c.lost(httpStatusReason(status, body))
			return
		}
	}
}

func (t *pollTransport) pong() { _ = t.write([]byte{'3'}, false) }

// close ends the poll loop and tells the server (Engine.IO close packet), briefly.
func (t *pollTransport) close() {
	t.mu.Lock()
	already := t.closed
	t.closed = true
	t.mu.Unlock()
	if already {
		return
	}
	t.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _, _ = doHTTP(ctx, t.hc, http.MethodPost, t.url, []byte{'1'})
}

// doHTTP makes one request and reads the whole answer (at most 16 MB).
func doHTTP(ctx context.Context, hc *http.Client, method, u string, body []byte) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return b, resp.StatusCode, err
}

// httpStatusReason names a refused polling request: the status and, when the body is an
// Engine.IO error {"code","message"}, its message ("polling HTTP 400 Session ID unknown").
func httpStatusReason(status int, body []byte) string {
	reason := "polling HTTP " + strconv.Itoa(status)
	var e struct {
		Message string `json:"message"`
	}
	switch {
	case json.Unmarshal(body, &e) == nil && e.Message != "" && len(e.Message) < 100:
		reason += " " + e.Message
	case len(body) > 0 && len(body) < 40 && utf8.Valid(body):
		reason += " " + strings.TrimSpace(string(body))
	}
	return reason
}

// httpErrorCode names a failed handshake request.
func httpErrorCode(err error) string {
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return "DIAL"
	case errors.Is(err, context.DeadlineExceeded):
		return "CONNECT_TIMEOUT"
	default:
		return "HANDSHAKE"
	}
}

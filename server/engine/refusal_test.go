package engine

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server/security"
)

// refusingServer refuses every new session of the loopback (denylisted) and answers each
// client message with "refused:<why.Code>:<message>" ("hello" at open for v3).
func refusingServer(t *testing.T, backlog int) (*testServer, *atomic.Int32) {
	t.Helper()
	deny := &security.Denylist{}
	path := t.TempDir() + "/deny"
	if err := os.WriteFile(path, []byte("127.0.0.0/8\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := deny.Load(path); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{AllowEIO3: true, RefusalBacklog: backlog, Gate: &security.Gate{Denylist: deny}})
	refused := &atomic.Int32{}
	ts.srv.OnRefuse = func(why security.Refusal, from netip.Addr) {
		if why.Reason == security.RefusedDenylist && from.IsLoopback() {
			refused.Add(1)
		}
	}
	ts.srv.OnRefusal = func(protocol int, why security.Refusal, msg *codec.EPacket) []codec.EPacket {
		if msg == nil {
			if protocol == 3 {
				return []codec.EPacket{{Type: codec.EMessage, Data: []byte("hello")}}
			}
			return nil
		}
		return []codec.EPacket{{Type: codec.EMessage, Data: []byte("refused:" + why.Code + ":" + string(msg.Data))}}
	}
	return ts, refused
}

// A refused polling handshake opens a refused session: no Session, no upgrade offered; the
// client's message is answered in the next poll, the poll after that closes, and the
// refusal's place in the backlog is free again.
func TestRefusedPollingSessionAnswersItsConnect(t *testing.T) {
	ts, refused := refusingServer(t, 0)
	status, body := get(t, ts.url)
	if status != http.StatusOK || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q", status, body)
	}
	var open struct {
		SID      string   `json:"sid"`
		Upgrades []string `json:"upgrades"`
	}
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil || !strings.HasPrefix(open.SID, refusalPrefix) || len(open.Upgrades) != 0 {
		t.Fatalf("open packet %q: %+v %v", body, open, err)
	}
	if ts.srv.Len() != 0 || ts.srv.RefusalsHeld() != 1 || refused.Load() != 1 {
		t.Fatalf("sessions %d, refusals held %d, refusals heard %d", ts.srv.Len(), ts.srv.RefusalsHeld(), refused.Load())
	}
	url := ts.url + "&sid=" + open.SID
	// the poll waits for the CONNECT
	answered := make(chan string, 1)
	go func() { _, b := get(t, url); answered <- b }()
	time.Sleep(50 * time.Millisecond)
	if status, body := post(t, url, "40{}"); status != http.StatusOK || body != "ok" {
		t.Fatalf("POST: %d %q", status, body)
	}
	select {
	case b := <-answered:
		if b != "4refused:FORBIDDEN:0{}" {
			t.Fatalf("the poll answered %q", b)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the poll did not answer the CONNECT")
	}
	if _, b := get(t, url); b != "1" {
		t.Fatalf("then %q, want the close packet", b)
	}
	if status, _ := get(t, url); status != http.StatusBadRequest || ts.srv.RefusalsHeld() != 0 {
		t.Fatalf("after the close: HTTP %d, %d refusals held", status, ts.srv.RefusalsHeld())
	}
}

// A poll with nothing to answer yet gets a noop after a second; a refusal nobody follows up
// is forgotten after refusalLinger.
func TestRefusedPollingSessionWaitsOnePoll(t *testing.T) {
	ts, _ := refusingServer(t, 0)
	_, body := get(t, ts.url)
	sid := body[strings.Index(body, `"sid":"`)+7:]
	sid = sid[:strings.IndexByte(sid, '"')]
	started := time.Now()
	if _, b := get(t, ts.url+"&sid="+sid); b != "6" || time.Since(started) < refusalPoll/2 {
		t.Fatalf("an empty poll: %q after %v", b, time.Since(started))
	}
	ts.srv.refusals.mu.Lock()
	ts.srv.refusals.byID[sid].expires = time.Now().Add(-time.Millisecond)
	ts.srv.refusals.mu.Unlock()
	if ts.srv.RefusalsHeld() != 0 {
		t.Fatal("an expired refusal is held")
	}
}

// Past the backlog a refusal is a bare HTTP status with the reason in a JSON body.
func TestRefusalBacklogFullAnswersHTTP(t *testing.T) {
	ts, _ := refusingServer(t, 2)
	for range 2 {
		if _, b := get(t, ts.url); !strings.Contains(b, refusalPrefix) {
			t.Fatalf("within the backlog: %q", b)
		}
	}
	status, body := get(t, ts.url)
	var r struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
		Data    struct {
			Code string `json:"code"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || status != http.StatusForbidden || r.Reason != "denylist" || r.Data.Code != "FORBIDDEN" || r.Message == "" {
		t.Fatalf("past the backlog: %d %q (%v)", status, body, err)
	}
	if n := ts.srv.opts.Stats.Untold.Load(); n != 1 {
		t.Fatalf("Untold = %d", n)
	}
}

// On WebSocket the refused session answers the client's message on the connection, waits
// for the client to close (python-socketio would reconnect if the server closed first), and
// holds no goroutine meanwhile.
func TestRefusedWebSocketSession(t *testing.T) {
	ts, _ := refusingServer(t, 0)
	c := dialRaw(t, ts.ws)
	if _, open := c.frame(); !strings.HasPrefix(open, `0{"sid":"`+refusalPrefix) || !strings.Contains(open, `"upgrades":[]`) {
		t.Fatalf("open: %q", open)
	}
	c.send(clientFrame(0x81, []byte("40")))
	if _, ans := c.frame(); ans != "4refused:FORBIDDEN:0" {
		t.Fatalf("answer: %q", ans)
	}
	before := runtime.NumGoroutine()
	for range 20 { // more refused connections, all idle
		d := dialRaw(t, ts.ws)
		d.frame()
	}
	time.Sleep(100 * time.Millisecond)
	if n := runtime.NumGoroutine() - before; n > 5 {
		t.Fatalf("20 idle refused WebSockets hold %d goroutines", n)
	}
	if ts.srv.RefusalsHeld() != 21 {
		t.Fatalf("refusals held: %d", ts.srv.RefusalsHeld())
	}
	c.send(clientFrame(0x88, []byte{0x03, 0xe8}))
	if op, _ := c.frame(); op != codec.WSClose {
		t.Fatalf("the client's close answered with op %d", op)
	}
	c.expectClosed()
	deadline := time.Now().Add(2 * time.Second)
	for ts.srv.RefusalsHeld() != 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := ts.srv.RefusalsHeld(); n != 20 {
		t.Fatalf("after a close, refusals held: %d", n)
	}
}

// A v2 client is told with the handshake (it sends no CONNECT); its poll then closes.
func TestRefusedEngineIOv3(t *testing.T) {
	ts, _ := refusingServer(t, 0)
	url := strings.Replace(ts.url, "EIO=4", "EIO=3", 1)
	_, body := get(t, url)
	if !strings.Contains(body, ":0{") || !strings.HasSuffix(body, "6:4hello") {
		t.Fatalf("v3 handshake: %q", body)
	}
	sid := body[strings.Index(body, `"sid":"`)+7:]
	sid = sid[:strings.IndexByte(sid, '"')]
	if _, b := get(t, url+"&sid="+sid); b != "1:1" {
		t.Fatalf("v3 poll: %q", b)
	}
}

// Draining: HTTP 503 UNAVAILABLE, which a stock client retries, with Retry-After.
func TestDrainingRefusesWithHTTP(t *testing.T) {
	ts, _ := refusingServer(t, 0)
	ts.srv.Close(ReasonShutdown)
	resp, err := http.Get(ts.url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Code int `json:"code"`
		Data struct {
			Code         string `json:"code"`
			RetryAfterMs int    `json:"retryAfterMs"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || r.Code != 503 || r.Data.Code != "UNAVAILABLE" || r.Data.RetryAfterMs != 1000 {
		t.Fatalf("draining: %d %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), r)
	}
}

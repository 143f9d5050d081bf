package engine

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edgeio/server/security"

	"github.com/valyala/fasthttp"
)

// cluster starts engines that forward to each other, as hub/cluster makes them do: n with
// the same options, or one for each options given.
func cluster(t testing.TB, n int, opts ...Options) []*testServer {
	t.Helper()
	nodes := make([]*testServer, n)
	routes := make([]Route, n)
	for i := range nodes {
		nodes[i] = startServer(t, opts[min(i, len(opts)-1)])
		routes[i] = nodes[i].srv.Forward(nodes[i].addr())
		routes[i].Node = string(rune('a' + i))
	}
	for i, ts := range nodes {
		for j, r := range routes {
			if i != j {
				ts.srv.SetRoute(r)
			}
		}
	}
	return nodes
}

func (ts *testServer) addr() string {
	return strings.TrimSuffix(strings.TrimPrefix(ts.url, "http://"), "/engine.io/?EIO=4&transport=polling")
}

// on is the URL of sid's requests through ts.
func (ts *testServer) on(sid string) string { return ts.url + "&sid=" + sid }

func request(t *testing.T, method, url, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A session's POSTs and polls reach it through any node, compressed as the client asked.
func TestForwardedPollsAndPosts(t *testing.T) {
	nodes := cluster(t, 3, Options{})
	a, b, c := nodes[0], nodes[1], nodes[2]
	sid := a.handshake(t)
	if tag := a.srv.fwd.Load().self.Tag; !strings.HasPrefix(sid, tag) || len(sid) != tagLen+20 {
		t.Fatalf("sid %q does not start with its node's tag %q", sid, tag)
	}
	if code, body := post(t, b.on(sid), "4hello"); code != 200 || body != "ok" {
		t.Fatalf("POST through b: %d %q", code, body)
	}
	if code, body := get(t, c.on(sid)); code != 200 || body != "4hello" {
		t.Fatalf("poll through c: %d %q", code, body)
	}
	big := "4" + strings.Repeat("compressible ", 200)
	post(t, c.on(sid), big)
	resp, body := request(t, http.MethodGet, b.on(sid), "", http.Header{"Accept-Encoding": {"gzip"}})
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q through b", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(zr); string(got) != big {
		t.Fatalf("gzipped poll through b: %d bytes, want the message", len(got))
	}
	st := b.srv.ForwardStats()
	if st.Polls.Load() != 1 || st.Posts.Load() != 1 || st.Failures.Load() != 0 {
		t.Fatalf("b forwarded %d polls, %d posts, %d failures; want 1, 1, 0", st.Polls.Load(), st.Posts.Load(), st.Failures.Load())
	}
	// a's own requests never look at the routes
	if st := a.srv.ForwardStats(); st.Polls.Load()+st.Posts.Load() != 0 {
		t.Fatal("a forwarded its own session's requests")
	}
}

// A POST of up to --max-payload goes through; a larger one is refused where it lands.
func TestForwardedPostsUpToMaxPayload(t *testing.T) {
	nodes := cluster(t, 2, Options{MaxPayload: 1000})
	a, b := nodes[0], nodes[1]
	sid := a.handshake(t)
	full := "4" + strings.Repeat("x", 999)
	if code, body := post(t, b.on(sid), full); code != 200 || body != "ok" {
		t.Fatalf("a POST of --max-payload through b: %d %q", code, body)
	}
	if code, body := get(t, b.on(sid)); code != 200 || body != full {
		t.Fatalf("its echo through b: %d, %d bytes", code, len(body))
	}
	if code, _ := post(t, b.on(sid), full+"x"); code != 413 {
		t.Fatalf("a POST past --max-payload through b: %d, want 413", code)
	}
	if n := b.srv.ForwardStats().Posts.Load(); n != 1 {
		t.Fatalf("%d POSTs forwarded, want 1: the larger one stays on b", n)
	}
}

// A poll held through another node returns when the session closes, with the close packet.
func TestForwardedPollEndsWithTheSession(t *testing.T) {
	nodes := cluster(t, 2, Options{})
	a, b := nodes[0], nodes[1]
	sid := a.handshake(t)
	polled := pollThrough(t, b, sid)
	a.srv.CloseWhere(func(*Session) bool { return true }, ReasonShutdown)
	if got := <-polled; got.body != "1" {
		t.Fatalf("held poll got %q, want the close packet", got.body)
	}
	if r, _ := b.srv.Forwarding(); r != 0 {
		t.Fatalf("%d forwards left in flight", r)
	}
}

// The upgrade of a polling session reaches it through another node, which pipes the
// WebSocket both ways until it closes.
func TestForwardedUpgrade(t *testing.T) {
	nodes := cluster(t, 2, Options{})
	a, b := nodes[0], nodes[1]
	sid := a.handshake(t)
	c := probeThrough(t, b, sid, true)
	_ = c.conn.WriteString("5")
	big := "4" + strings.Repeat("z", 5000) // compressed both ways, over many reads
	_ = c.conn.WriteString(big)
	if m := c.next(t, 1); m != big {
		t.Fatalf("echo through b: %d bytes", len(m))
	}
	if _, ws := b.srv.Forwarding(); ws != 1 {
		t.Fatalf("b carries %d WebSockets, want 1", ws)
	}
	if b.srv.ForwardStats().Upgrades.Load() != 1 {
		t.Fatal("the upgrade was not counted")
	}
	_ = c.conn.NetConn().Close()
	if r := <-a.closed; r != ReasonTransportClose {
		t.Fatalf("the session closed for %q", r)
	}
	waitFor(t, "b's pipe to close", func() bool { _, ws := b.srv.Forwarding(); return ws == 0 })
}

// An upgrade refused by the node that holds the session is refused as that node answered.
func TestForwardedUpgradeOfAClosedSessionIsClosed(t *testing.T) {
	nodes := cluster(t, 2, Options{})
	a, b := nodes[0], nodes[1]
	sid := a.handshake(t)
	probeThrough(t, b, sid, false)
	second := dialWS(t, b.ws+"&sid="+sid, false) // one upgrade at a time: a accepts and closes it
	second.closedWithin(t, "a second upgrade through b")
	resp, body := request(t, http.MethodGet, strings.Replace(b.ws, "ws://", "http://", 1)+"&sid="+a.srv.fwd.Load().self.Tag+"unknownunknownunknow", "", upgradeHeader)
	if resp.StatusCode != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("upgrade of an unknown session through b: %d %q", resp.StatusCode, body)
	}
}

// The node that holds a session judges its client by the address the forwarding node
// names, and only a node that holds its key can name one.
func TestForwardedRequestCarriesTheClientsAddress(t *testing.T) {
	bans := security.NewBans(0, time.Minute, time.Minute, 10)
	behindProxy := Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	nodes := cluster(t, 2, Options{Gate: &security.Gate{Bans: bans}}, behindProxy)
	a, b := nodes[0], nodes[1] // a bans, b bans nobody
	sid := a.handshake(t)
	bans.Ban(netip.MustParseAddr("198.51.100.7"), time.Minute)
	client := http.Header{"X-Forwarded-For": {"198.51.100.7"}}
	if resp, body := request(t, http.MethodPost, b.on(sid), "6", client); resp.StatusCode != 403 || !strings.Contains(body, `"BANNED"`) {
		t.Fatalf("a banned client's POST through b: %d %q", resp.StatusCode, body)
	}
	key := a.srv.fwd.Load().self.Key
	hop := func(k string) http.Header {
		return http.Header{hopKeyHeader: {k}, hopClientHeader: {"198.51.100.7"}}
	}
	if resp, _ := request(t, http.MethodPost, a.on(sid), "6", hop(key)); resp.StatusCode != 403 {
		t.Fatalf("a request with a's key naming a banned client: %d", resp.StatusCode)
	}
	if resp, body := request(t, http.MethodPost, a.on(sid), "6", hop("guessed"+key[7:])); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("a made-up key was believed: %d %q", resp.StatusCode, body)
	}
	// a request with a key, even a wrong one, is never forwarded again
	if resp, body := request(t, http.MethodPost, b.on(sid), "6", hop("guessed")); resp.StatusCode != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("b forwarded a request that carried a hop key: %d %q", resp.StatusCode, body)
	}
}

// Requests for a node that cannot be reached are told at once that their session is
// unknown, so that their clients reconnect; so are ids of no node known, without a try.
func TestForwardToAGoneNodeFailsFast(t *testing.T) {
	nodes := cluster(t, 2, Options{})
	b := nodes[1]
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := ln.Addr().String()
	_ = ln.Close()
	b.srv.SetRoute(Route{Node: "gone", Tag: "GoneGone", Addr: gone, Key: "k"})
	sid := "GoneGone" + newID()
	if resp, body := request(t, http.MethodGet, strings.Replace(b.ws, "ws://", "http://", 1)+"&sid="+sid, "", upgradeHeader); resp.StatusCode != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("upgrade for a gone node: %d %q", resp.StatusCode, body)
	}
	for i := range 3 {
		start := time.Now()
		if code, body := get(t, b.on(sid)); code != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
			t.Fatalf("poll for a gone node: %d %q", code, body)
		}
		if d := time.Since(start); d > forwardDialTimeout {
			t.Fatalf("poll %d for a gone node took %v", i, d)
		}
	}
	if f := b.srv.ForwardStats().Failures.Load(); f != 4 {
		t.Fatalf("%d failures counted, want 4", f)
	}
	if p := b.srv.fwd.Load().peer([]byte(sid)); p.up() {
		t.Fatal("a node that refused a connection is tried again at once")
	}
	before := b.srv.ForwardStats().Polls.Load()
	if code, _ := get(t, b.on("Nobody12"+newID())); code != 400 || b.srv.ForwardStats().Polls.Load() != before {
		t.Fatal("an id of no node known was forwarded")
	}
}

// A node that leaves the cluster takes what waits on it with it: a poll held there is
// answered at once.
func TestDropRouteEndsWhatWaitsThere(t *testing.T) {
	nodes := cluster(t, 2, Options{})
	a, b := nodes[0], nodes[1]
	sid := a.handshake(t)
	ws := a.handshake(t)
	c := probeThrough(t, b, ws, false)
	polled := pollThrough(t, b, sid)
	b.srv.DropRoute("a")
	select {
	case got := <-polled:
		if got.code != 400 {
			t.Fatalf("held poll: %d, want 400", got.code)
		}
	case <-time.After(time.Second):
		t.Fatal("a poll held on a node that left still waits")
	}
	c.closedWithin(t, "a WebSocket carried to a node that left")
	waitFor(t, "b to carry nothing", func() bool { r, w := b.srv.Forwarding(); return r == 0 && w == 0 })
}

// Past --max-forwards in flight, requests for other nodes' sessions get 503.
func TestForwardsInFlightAreBounded(t *testing.T) {
	nodes := cluster(t, 2, Options{MaxForwards: 1})
	a, b := nodes[0], nodes[1]
	first, second := a.handshake(t), a.handshake(t)
	held := pollThrough(t, b, first)
	var refused atomic.Int32
	b.srv.OnRefuse = func(why security.Refusal, _ netip.Addr) {
		if why.Reason == security.RefusedForwards {
			refused.Add(1)
		}
	}
	resp, body := request(t, http.MethodPost, b.on(second), "4x", nil)
	if resp.StatusCode != 503 || !strings.Contains(body, `"UNAVAILABLE"`) || resp.Header.Get("Retry-After") != "1" || refused.Load() != 1 {
		t.Fatalf("a forward past the bound: %d %q (Retry-After %q), %d counted", resp.StatusCode, body, resp.Header.Get("Retry-After"), refused.Load())
	}
	if code, _ := post(t, a.on(first), "4wake"); code != 200 {
		t.Fatal("direct POST")
	}
	if got := <-held; got.body != "4wake" {
		t.Fatalf("held poll got %q", got.body)
	}
	if code, body := post(t, b.on(second), "4x"); code != 200 || body != "ok" {
		t.Fatalf("a forward once the bound has room: %d %q", code, body)
	}
}

// answer is an HTTP answer's status and body.
type answer struct {
	code int
	body string
}

// pollThrough starts a poll of sid through ts and waits until ts holds it on the session's
// node; its answer comes on the channel.
func pollThrough(t *testing.T, ts *testServer, sid string) <-chan answer {
	t.Helper()
	ch := make(chan answer, 1)
	go func() {
		code, body := get(t, ts.on(sid))
		ch <- answer{code, body}
	}()
	waitFor(t, "the poll to wait on its session's node", func() bool { r, _ := ts.srv.Forwarding(); return r == 1 })
	return ch
}

// probeThrough opens an upgrade of sid through ts and sends its probe, which the session's
// node answers.
func probeThrough(t *testing.T, ts *testServer, sid string, compress bool) *wsClient {
	t.Helper()
	c := dialWS(t, ts.ws+"&sid="+sid, compress)
	_ = c.conn.WriteString("2probe")
	if m := c.next(t, 0); m != "3probe" {
		t.Fatalf("probe answer through %s: %q", ts.addr(), m)
	}
	return c
}

// closedWithin fails unless the connection closes within a second.
func (c *wsClient) closedWithin(t *testing.T, what string) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(time.Second):
		t.Fatalf("%s stays open", what)
	}
}

// upgradeHeader makes a request a WebSocket upgrade.
var upgradeHeader = http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A carried WebSocket whose client reads slowly holds what the node sends until the client
// takes it (the pipe pauses reading the node, and TCP holds it back there), then passes it
// on whole and in order.
func TestForwardedWebSocketPassesBackpressureOn(t *testing.T) {
	a := startServer(t, Options{})
	b := startSmallServer(t, Options{})
	ra, rb := a.srv.Forward(a.addr()), b.srv.Forward(b.addr())
	ra.Node, rb.Node = "a", "b"
	a.srv.SetRoute(rb)
	b.srv.SetRoute(ra)
	sid := a.handshake(t)
	c := dialRawWith(t, b.ws+"&sid="+sid, smallWindow)
	c.send(clientFrame(0x81, []byte("2probe")))
	if _, p := c.frame(); p != "3probe" {
		t.Fatalf("probe answer %q", p)
	}
	c.send(clientFrame(0x81, []byte("5")))
	const n = 300
	pad := strings.Repeat("p", 4000)
	go func() {
		for i := range n {
			if _, err := c.nc.Write(clientFrame(0x81, []byte("4"+strconv.Itoa(i)+pad))); err != nil {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond) // the echoes pile up: b's socket to the client is full
	for i := range n {
		if _, p := c.frame(); p != "4"+strconv.Itoa(i)+pad {
			t.Fatalf("echo %d: %d bytes %.20q", i, len(p), p)
		}
	}
}

// Whatever a node answers an upgrade with, reading its head ends: with a status of three
// digits and the head as it came, within maxAnswerHead, or an error.
func FuzzUpgradeAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x01x"))
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 41\r\n\r\n{\"code\":1,\"message\":\"Session ID unknown\"}"))
	f.Add([]byte("HTTP/1.1 -12 x\r\nContent-Length: -5\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		status, _, head, err := readAnswerHead(bufio.NewReaderSize(bytes.NewReader(data), 1024))
		if err != nil {
			return
		}
		if status < 100 || status > 999 || len(head) > maxAnswerHead || !bytes.HasPrefix(data, head) || !bytes.HasSuffix(head, []byte("\n")) {
			t.Fatalf("status %d, head %q of %q", status, head, data)
		}
	})
}

// A node that drains carries nothing for the others any more: the poll it forwarded is
// answered at once (the session stays open on its node), later ones are short, the
// WebSocket it carried closes, and an upgrade is refused.
func TestDrainingNodeReleasesWhatItCarries(t *testing.T) {
	nodes := cluster(t, 2, Options{})
	a, b := nodes[0], nodes[1]
	sid, ws := a.handshake(t), a.handshake(t)
	c := probeThrough(t, b, ws, false)
	_ = c.conn.WriteString("5")
	polled := pollThrough(t, b, sid)
	b.srv.Close(ReasonShutdown)
	select {
	case got := <-polled:
		if got.body != "6" {
			t.Fatalf("released poll got %q, want a noop", got.body)
		}
	case <-time.After(time.Second):
		t.Fatal("a poll held on a for a draining node still waits")
	}
	c.closedWithin(t, "the WebSocket carried by a draining node")
	if r := <-a.closed; r != ReasonTransportClose {
		t.Fatalf("the carried session closed for %q", r)
	}
	start := time.Now()
	if code, body := get(t, b.on(sid)); code != 200 || body != "6" || time.Since(start) > time.Second {
		t.Fatalf("a poll through a draining node: %d %q after %v", code, body, time.Since(start))
	}
	if resp, _ := request(t, http.MethodGet, strings.Replace(b.ws, "ws://", "http://", 1)+"&sid="+sid, "", upgradeHeader); resp.StatusCode != 503 {
		t.Fatalf("an upgrade through a draining node: %d, want 503", resp.StatusCode)
	}
	if code, body := post(t, a.on(sid), "4still open"); code != 200 || body != "ok" {
		t.Fatalf("the polling session on a after b drained: %d %q", code, body)
	}
}

type nopHandler struct{}

func (nopHandler) OnMessage([]byte, bool) {}
func (nopHandler) OnClose(string)         {}

// What a POST to a session of this node costs, alone and in a cluster (where every request
// is looked at for a hop key): forwarding must cost a sticky balancer nothing.
func BenchmarkPostToOwnNode(b *testing.B) {
	for _, inCluster := range []bool{false, true} {
		b.Run(map[bool]string{false: "alone", true: "cluster"}[inCluster], func(b *testing.B) {
			srv := NewServer(Options{})
			srv.OnOpen = func(*Session) Handler { return nopHandler{} }
			if inCluster {
				srv.Forward("127.0.0.1:1")
				srv.SetRoute(Route{Node: "other", Tag: "OtherTag", Addr: "127.0.0.1:2", Key: "k"})
			}
			sess := srv.Attach(4, "127.0.0.1:9")
			defer srv.Close(ReasonShutdown)
			uri := "/engine.io/?EIO=4&transport=polling&sid=" + sess.ID
			var ctx fasthttp.RequestCtx
			for b.Loop() {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.Header.SetMethod(fasthttp.MethodPost)
				ctx.Request.SetRequestURI(uri)
				ctx.Request.Header.Set("User-Agent", "node")
				ctx.Request.Header.Set("Accept", "*/*")
				ctx.Request.SetBodyString("6")
				srv.ServeHTTP(&ctx)
			}
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		})
	}
}

// A POST and the poll that collects its answer, on the session's node and through another
// one, on loopback: what the hop adds to a polling client's round trip.
func BenchmarkPollingExchange(b *testing.B) {
	nodes := cluster(b, 2, Options{})
	a, other := nodes[0], nodes[1]
	sid := a.handshake(b)
	for _, via := range []*testServer{a, other} {
		b.Run(map[bool]string{true: "direct", false: "forwarded"}[via == a], func(b *testing.B) {
			c := &fasthttp.HostClient{Addr: via.addr()}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			uri := via.on(sid)
			for b.Loop() {
				req.Reset()
				req.SetRequestURI(uri)
				req.Header.SetMethod(fasthttp.MethodPost)
				req.SetBodyString("4hi")
				if err := c.Do(req, resp); err != nil || string(resp.Body()) != "ok" {
					b.Fatalf("POST: %v %s", err, resp.Body())
				}
				req.Reset()
				req.SetRequestURI(uri)
				if err := c.Do(req, resp); err != nil || string(resp.Body()) != "4hi" {
					b.Fatalf("poll: %v %s", err, resp.Body())
				}
			}
		})
	}
}

package engine

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestRequestKeepsHeadersAndQuery(t *testing.T) {
	ts := startServer(t, Options{})
	var got *Request
	ts.srv.OnOpen = func(s *Session) Handler {
		got = s.Request
		return &echoHandler{sess: s, closed: ts.closed}
	}
	req, _ := http.NewRequest(http.MethodGet, ts.url+"&token=abc&x=1&x=2", nil)
	req.Header.Set("Authorization", "Bearer t0k")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h, q := got.Header(), got.Query()
	if h.Get("Authorization") != "Bearer t0k" || len(h.Values("X-Multi")) != 2 || q.Get("token") != "abc" || len(q["x"]) != 2 {
		t.Fatalf("header %v query %v", h, q)
	}
	if !got.ClientIP.IsLoopback() {
		t.Fatalf("client ip %v", got.ClientIP)
	}
	empty := &Request{}
	if len(empty.Header()) != 0 || len(empty.Query()) != 0 {
		t.Fatal("an empty request has headers")
	}
}

// A client behind a trusted proxy that appends its own X-Forwarded-For line is the
// proxy's hop, whatever line it forged before it; an untrusted peer's header is ignored.
func TestClientIPReadsEveryForwardedForLine(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	ts := startServer(t, Options{TrustedProxies: trusted})
	got := make(chan netip.Addr, 1)
	ts.srv.OnOpen = func(s *Session) Handler {
		got <- s.Request.ClientIP
		return &echoHandler{sess: s, closed: ts.closed}
	}
	open := func(lines ...string) netip.Addr {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.url, nil)
		for _, l := range lines {
			req.Header.Add("X-Forwarded-For", l) // one header line each
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-got
	}
	if a := open("198.51.100.66", "203.0.113.5"); a.String() != "203.0.113.5" {
		t.Fatalf("forged first line won: %v", a)
	}
	if a := open("198.51.100.66, 198.51.100.67", "203.0.113.6, 127.0.0.9"); a.String() != "203.0.113.6" {
		t.Fatalf("lists over two lines: %v", a)
	}
	untrusted := startServer(t, Options{})
	untrusted.srv.OnOpen = ts.srv.OnOpen
	ts = untrusted
	if a := open("203.0.113.5"); !a.IsLoopback() {
		t.Fatalf("an untrusted peer's header was believed: %v", a)
	}
}

package engine

import (
	"net/http"
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

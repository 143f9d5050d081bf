package demo

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func get(h fasthttp.RequestHandler, uri string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	h(ctx)
	return ctx
}

func TestPageAndFiles(t *testing.T) {
	h := Handler(Options{})
	if c := get(h, "/demo"); c.Response.StatusCode() != fasthttp.StatusMovedPermanently || !strings.HasSuffix(string(c.Response.Header.Peek("Location")), "/demo/") {
		t.Fatalf("/demo: %d %q", c.Response.StatusCode(), c.Response.Header.Peek("Location"))
	}
	c := get(h, "/demo/")
	if c.Response.StatusCode() != 200 || !strings.Contains(string(c.Response.Body()), "<title>edgeio chat</title>") {
		t.Fatalf("/demo/: %d %.80q", c.Response.StatusCode(), c.Response.Body())
	}
	// the notice a binary built without the bundle shows (the bundle hides it)
	if !strings.Contains(string(c.Response.Body()), `id="nobundle"`) {
		t.Fatal("the page lacks its notice for a missing bundle")
	}
	if ct := string(c.Response.Header.ContentType()); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("content type %q", ct)
	}
	// attachments are shown from blob: URLs; scripts come from the page's origin alone
	if csp := string(c.Response.Header.Peek("Content-Security-Policy")); !strings.Contains(csp, "img-src 'self' data: blob:") || !strings.HasPrefix(csp, "default-src 'self';") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
	if c := get(h, "/demo/style.css"); c.Response.StatusCode() != 200 || !strings.HasPrefix(string(c.Response.Header.ContentType()), "text/css") {
		t.Fatalf("style.css: %d %q", c.Response.StatusCode(), c.Response.Header.ContentType())
	}
	for _, p := range []string{"/demo/nothing.js", "/demo/../demo.go", "/demox", "/demo/dist/../../demo.go"} {
		if c := get(h, p); c.Response.StatusCode() != fasthttp.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, c.Response.StatusCode())
		}
	}
}

func TestToken(t *testing.T) {
	if c := get(Handler(Options{}), "/demo/token?name=bob"); c.Response.StatusCode() != fasthttp.StatusForbidden {
		t.Fatalf("without Mint: %d, want 403", c.Response.StatusCode())
	}
	var gotSub, gotName string
	h := Handler(Options{Mint: func(sub, name string) (string, error) { gotSub, gotName = sub, name; return "tok-" + sub, nil }})
	c := get(h, "/demo/token?name=%20Bob%20O'Neil%20")
	if c.Response.StatusCode() != 200 {
		t.Fatalf("token: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	var body map[string]string
	if err := json.Unmarshal(c.Response.Body(), &body); err != nil {
		t.Fatal(err)
	}
	if gotSub != "bob-o-neil" || gotName != "Bob O'Neil" || body["token"] != "tok-bob-o-neil" || body["userId"] != "bob-o-neil" {
		t.Fatalf("minted %q %q, answered %v", gotSub, gotName, body)
	}
	for _, q := range []string{"", "?name=", "?name=%21%21", "?name=" + strings.Repeat("a", 65)} {
		if c := get(h, "/demo/token"+q); c.Response.StatusCode() != fasthttp.StatusBadRequest {
			t.Errorf("token%s: %d, want 400", q, c.Response.StatusCode())
		}
	}
}

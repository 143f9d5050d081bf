package server

import (
	"bytes"
	"net/url"

	"github.com/valyala/fasthttp"
)

// corsPolicy decides which browser origins may talk to the server. A request without an
// Origin header comes from a non-browser client and passes; a same-origin page passes too.
type corsPolicy struct {
	any      bool
	required bool // requests without an Origin are refused too
	origins  map[string]bool
}

func newCORSPolicy(origins []string, required bool) corsPolicy {
	p := corsPolicy{origins: make(map[string]bool), required: required}
	for _, o := range origins {
		if o == "*" {
			p.any = true
		}
		p.origins[o] = true
	}
	return p
}

func (p corsPolicy) allowed(ctx *fasthttp.RequestCtx) bool {
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 {
		return !p.required
	}
	if p.any || p.origins[string(origin)] {
		return true
	}
	u, err := url.Parse(string(origin))
	return err == nil && bytes.Equal([]byte(u.Host), ctx.Host())
}

// apply writes the CORS response headers; it reports false (and answers 403) for a refused
// origin, and answers preflight requests itself.
func (p corsPolicy) apply(ctx *fasthttp.RequestCtx) bool {
	if !p.allowed(ctx) {
		ctx.SetStatusCode(fasthttp.StatusForbidden)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"code":4,"message":"Forbidden"}`)
		return false
	}
	origin := ctx.Request.Header.Peek("Origin")
	h := &ctx.Response.Header
	if len(origin) > 0 {
		if p.any && !p.origins[string(origin)] {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.SetBytesV("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Vary", "Origin")
		}
	}
	if ctx.IsOptions() {
		h.Set("Access-Control-Allow-Methods", "GET,POST")
		if rh := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(rh) > 0 {
			h.SetBytesV("Access-Control-Allow-Headers", rh)
		}
		h.Set("Access-Control-Max-Age", "86400")
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return false
	}
	return true
}

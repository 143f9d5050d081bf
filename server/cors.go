package server

import (
	"bytes"
	"net/url"

	"edgeio/server/engine"
	"edgeio/server/security"

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

// apply writes the CORS response headers of an allowed request; it answers preflight
// requests itself and then reports false.
func (p corsPolicy) apply(ctx *fasthttp.RequestCtx) bool {
	origin := ctx.Request.Header.Peek("Origin")
	h := &ctx.Response.Header
	if len(origin) > 0 {
		if p.any && !p.origins[string(origin)] {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			exposeTo(ctx, origin)
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

func exposeTo(ctx *fasthttp.RequestCtx, origin []byte) {
	h := &ctx.Response.Header
	h.SetBytesV("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Vary", "Origin")
}

// tellRefused answers a request of a refused origin that opens an Engine.IO session, or
// belongs to a refused session: in the protocol, as the engine tells every refusal, with
// headers that let the page read why. A refused session opens nothing, so the page learns
// only that. It reports false, answering nothing, for any other request (its session's
// requests, a preflight), which gets a 403.
func (p corsPolicy) tellRefused(ctx *fasthttp.RequestCtx, e *engine.Server) bool {
	if ctx.IsOptions() {
		return false
	}
	if origin := ctx.Request.Header.Peek("Origin"); len(origin) > 0 {
		exposeTo(ctx, origin)
	}
	if engine.IsRefused(ctx.QueryArgs().Peek("sid")) {
		e.ServeHTTP(ctx)
		return true
	}
	if e.RefuseHandshake(ctx, security.ForeignOrigin) {
		return true
	}
	for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Vary"} {
		ctx.Response.Header.Del(k)
	}
	return false
}

package engine

import (
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"
)

// HTTP error codes of the Engine.IO protocol, answered as {"code","message"}.
const (
	errUnknownTransport = iota
	errUnknownSid
	errBadHandshakeMethod
	errBadRequest
	errForbidden
	errUnsupportedProtocol
)

var errMessages = [...]string{
	"Transport unknown",
	"Session ID unknown",
	"Bad handshake method",
	"Bad request",
	"Forbidden",
	"Unsupported protocol version",
}

func writeError(ctx *fasthttp.RequestCtx, code int) {
	status := fasthttp.StatusBadRequest
	if code == errForbidden {
		status = fasthttp.StatusForbidden
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"code":` + strconv.Itoa(code) + `,"message":"` + errMessages[code] + `"}`)
}

// HTTPErrorHandler answers requests fasthttp could not read: 413 for a body over the
// payload limit (Engine.IO's answer), 400 otherwise.
func HTTPErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		ctx.Error("Payload Too Large", fasthttp.StatusRequestEntityTooLarge)
		return
	}
	ctx.Error("Bad Request", fasthttp.StatusBadRequest)
}

// Package demo serves the web chat demo of --demo at /demo/ on the client listener: a page
// that chats through the TypeScript SDK (hub/sdk). Its files are embedded; the script bundle
// (static/dist, built by scripts/build-web.sh) is not committed, and without it the page
// says so. With the development secret, /demo/token mints a token for any name.
package demo

import (
	"embed"
	"encoding/json"
	"io/fs"
	"mime"
	"path"
	"regexp"
	"strings"

	"github.com/valyala/fasthttp"

	"edgeio/server"
)

//go:embed static
var files embed.FS

// Options says what the demo may do.
type Options struct {
	// Mint makes a development token for user sub with display name name. Nil when the
	// server has a configured key: /demo/token then answers 403 and the page asks for a
	// token instead.
	Mint func(sub, name string) (string, error)
}

// Prefix is where the demo lives on the client listener.
const Prefix = "/demo"

// Mount serves the demo on s.
func Mount(s *server.Server, o Options) { s.Mount(Prefix, Handler(o)) }

// Handler serves /demo (a redirect), /demo/ (the page), /demo/token and the static files.
func Handler(o Options) fasthttp.RequestHandler {
	static, _ := fs.Sub(files, "static")
	return func(ctx *fasthttp.RequestCtx) {
		p := string(ctx.Path())
		if !ctx.IsGet() && !ctx.IsHead() {
			ctx.Error("GET only", fasthttp.StatusMethodNotAllowed)
			return
		}
		switch {
		case p == Prefix:
			ctx.Redirect(Prefix+"/", fasthttp.StatusMovedPermanently)
		case p == Prefix+"/token":
			token(ctx, o.Mint)
		case strings.HasPrefix(p, Prefix+"/"):
			file(ctx, static, strings.TrimPrefix(p, Prefix+"/"))
		default: // /demoX: Mount matches prefixes, not path segments
			ctx.Error("Not Found", fasthttp.StatusNotFound)
		}
	}
}

func file(ctx *fasthttp.RequestCtx, static fs.FS, name string) {
	if name == "" {
		name = "index.html"
	}
	b, err := fs.ReadFile(static, name)
	if err != nil {
		ctx.Error("Not Found", fasthttp.StatusNotFound)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	ctx.SetContentType(ct)
	h := &ctx.Response.Header
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache") // the bundle changes with every build and has no hash in its name
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:")
	ctx.SetBody(b)
}

var nameChars = regexp.MustCompile(`[^a-z0-9_-]+`)

// token answers { token, userId, name } for ?name=: the user id is the name in lower case
// with anything but letters, digits, '_' and '-' turned into '-'.
func token(ctx *fasthttp.RequestCtx, mint func(sub, name string) (string, error)) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if mint == nil {
		jsonError(ctx, fasthttp.StatusForbidden, "this server has a configured key: development tokens are off; paste a token")
		return
	}
	name := strings.TrimSpace(string(ctx.QueryArgs().Peek("name")))
	sub := strings.Trim(nameChars.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if sub == "" || len(name) > 64 {
		jsonError(ctx, fasthttp.StatusBadRequest, "name: 1 to 64 characters, with a letter or digit")
		return
	}
	if len(sub) > 48 {
		sub = sub[:48]
	}
	tok, err := mint(sub, name)
	if err != nil {
		jsonError(ctx, fasthttp.StatusInternalServerError, err.Error())
		return
	}
	ctx.SetContentType("application/json")
	_ = json.NewEncoder(ctx).Encode(map[string]string{"token": tok, "userId": sub, "name": name})
}

func jsonError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	_ = json.NewEncoder(ctx).Encode(map[string]string{"error": msg})
}

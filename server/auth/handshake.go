package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// TokenFrom finds the token of a handshake: the CONNECT auth payload's token, then an
// Authorization: Bearer header, then the token query parameter.
func TokenFrom(auth map[string]any, header http.Header, query url.Values) string {
	if t, ok := auth["token"].(string); ok && t != "" {
		return t
	}
	if h := header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return query.Get("token")
}

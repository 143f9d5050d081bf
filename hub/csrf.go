package hub

import (
	"crypto/subtle"
	"net/http"

	"edgeio/server"
	"edgeio/server/auth"
)

// handshakeToken finds the socket's token: from the auth payload, a Bearer header or the
// query; else from the auth cookie, which counts only with a double-submit CSRF token (the
// X-CSRF-Token header, or csrf in the auth payload, equal to the CSRF cookie), because a
// browser sends cookies to cross-site pages' connections too.
func (h *Hub) handshakeToken(s *server.Socket) string {
	hs := s.Handshake
	header := hs.Header()
	if t := auth.TokenFrom(hs.Auth, header, hs.Query()); t != "" || h.opts.AuthCookie == "" {
		return t
	}
	req := http.Request{Header: header}
	tok, err := req.Cookie(h.opts.AuthCookie)
	if err != nil || tok.Value == "" {
		return ""
	}
	csrf, err := req.Cookie(h.opts.CSRFCookie)
	if err != nil || csrf.Value == "" {
		return ""
	}
	sent := header.Get("X-CSRF-Token")
	if v, ok := hs.Auth["csrf"].(string); ok && sent == "" {
		sent = v
	}
	if subtle.ConstantTimeCompare([]byte(sent), []byte(csrf.Value)) != 1 {
		h.opts.OnRefused("csrf")
		return ""
	}
	return tok.Value
}

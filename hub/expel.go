package hub

import (
	"log"
	"net/netip"
	"time"

	"edgeio/server"
	"edgeio/server/engine"
	"edgeio/server/security"
)

// Expel closes every connection from the addresses match names: a ban, an operator's ban,
// a denylist that now lists them. Each of their sockets first gets an `error` event
// {code: "BANNED", message, retryAfterMs?} and a DISCONNECT, so that a stock client learns
// why and does not reconnect by itself. reason names the close in the metrics; retryAfter
// is how long the ban lasts (0: until the operator lifts it). It returns how many
// connections closed.
func (h *Hub) Expel(match func(netip.Addr) bool, reason, message string, retryAfter time.Duration) int {
	e := map[string]any{"code": CodeBanned, "message": message}
	if retryAfter > 0 {
		e["retryAfterMs"] = retryAfter.Milliseconds()
	}
	return h.io.DisconnectWhere(func(s *engine.Session) bool { return match(s.Request.ClientIP) }, reason,
		func(s *server.Socket) { _ = s.Emit("error", e) })
}

// expelBanned expels the client (an address, or an IPv6 /64: security.BanKey) a failed
// authentication has just banned for d.
func (h *Hub) expelBanned(address string, d time.Duration) {
	a, err := netip.ParseAddr(address)
	if err != nil {
		return
	}
	client := security.BanKey(a)
	n := h.Expel(client.Contains, "banned", "this address is banned for failed authentications", d)
	log.Printf("edgeio: %s banned for failed authentications; %d sessions closed", security.ClientName(a), n)
}

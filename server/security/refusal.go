package security

import (
	"net/http"
	"time"
)

// Refusal is why a client is turned away and what it is told: a code of the error codes
// every answer uses (docs/events.md), a message, and when trying again may work.
type Refusal struct {
	Reason     string        // as counted in metrics (RefusedPerIP, ...)
	Code       string        // RATE_LIMITED, BANNED, FORBIDDEN or UNAVAILABLE
	Message    string        // for people
	RetryAfter time.Duration // 0: none to give (a denylist, a foreign origin)
	Status     int           // the HTTP status, where the refusal is answered over HTTP
	// Retry marks a refusal for the server's own state (draining, full), not the client's:
	// it is answered over HTTP, which a stock client retries by itself, elsewhere if there
	// is an elsewhere. Other refusals are told in the protocol (a CONNECT_ERROR), after
	// which a stock client stops: trying again would only be refused again.
	Retry bool
}

// The codes of refusals (docs/events.md).
const (
	CodeRateLimited = "RATE_LIMITED"
	CodeBanned      = "BANNED"
	CodeForbidden   = "FORBIDDEN"
	CodeUnavailable = "UNAVAILABLE"
)

// Refusal reasons, as counted in metrics.
const (
	RefusedDenylist   = "denylist"
	RefusedBanned     = "banned"
	RefusedHandshakes = "handshake_rate"
	RefusedPerIP      = "conns_per_ip"
	RefusedFull       = "max_conns"
	RefusedOrigin     = "origin"
	RefusedDraining   = "draining"
	RefusedForwards   = "forwards"
)

// ConnsRetryAfter is the retryAfterMs a client over --max-conns-per-ip is given: a hint,
// since a place frees only when one of its address's connections closes.
const ConnsRetryAfter = 5 * time.Second

// The refusals, as told to the client (the gate fills in RetryAfter where it varies).
var (
	Denied        = Refusal{Reason: RefusedDenylist, Code: CodeForbidden, Message: "this address is denied by the operator", Status: http.StatusForbidden}
	BannedRefusal = Refusal{Reason: RefusedBanned, Code: CodeBanned, Message: "this address is banned", Status: http.StatusForbidden}
	HandshakeRate = Refusal{Reason: RefusedHandshakes, Code: CodeRateLimited, Message: "too many connection attempts from this address", Status: http.StatusTooManyRequests}
	ConnsPerIP    = Refusal{Reason: RefusedPerIP, Code: CodeRateLimited, Message: "too many connections from this address", Status: http.StatusTooManyRequests, RetryAfter: ConnsRetryAfter}
	Full          = Refusal{Reason: RefusedFull, Code: CodeUnavailable, Message: "server full", Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Retry: true}
	ForeignOrigin = Refusal{Reason: RefusedOrigin, Code: CodeForbidden, Message: "origin not allowed", Status: http.StatusForbidden}
	Draining      = Refusal{Reason: RefusedDraining, Code: CodeUnavailable, Message: "server shutting down", Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Retry: true}
	// ForwardsFull refuses a request for a session of another node while --max-forwards
	// requests are being forwarded already.
	ForwardsFull = Refusal{Reason: RefusedForwards, Code: CodeUnavailable, Message: "too many requests being forwarded to other nodes", Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Retry: true}
)

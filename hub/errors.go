package hub

import (
	"context"
	"errors"
	"time"

	"edgeio/hub/store"
	"edgeio/server"
)

// Error codes of docs/events.md, "Answers and errors".
const (
	CodeUnauthorized    = "UNAUTHORIZED"
	CodeTokenExpired    = "TOKEN_EXPIRED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotInRoom       = "NOT_IN_ROOM"
	CodeNotFound        = "NOT_FOUND"
	CodeInvalidPayload  = "INVALID_PAYLOAD"
	CodePayloadTooLarge = "PAYLOAD_TOO_LARGE"
	CodeRateLimited     = "RATE_LIMITED"
	CodeBanned          = "BANNED"        // the client's address is banned (docs/security.md)
	CodeSlowConsumer    = "SLOW_CONSUMER" // cut off for not reading what it is sent (docs/reliability.md)
	CodeUnavailable     = "UNAVAILABLE"
	CodeInternal        = "INTERNAL"
)

// chatError is a refusal sent back to the client.
type chatError struct {
	code, message string
	retryAfterMs  int64
}

func (e *chatError) Error() string { return e.code + ": " + e.message }

func invalid(msg string) *chatError { return &chatError{code: CodeInvalidPayload, message: msg} }

func rateLimited(wait time.Duration) *chatError {
	return &chatError{code: CodeRateLimited, message: "slow down", retryAfterMs: max(wait.Milliseconds(), 1)}
}

// storeError maps a store failure to what the client is told.
func storeError(err error) *chatError {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &chatError{code: CodeNotFound, message: "no such message"}
	case errors.Is(err, store.ErrForbidden):
		return &chatError{code: CodeForbidden, message: "only the author may do that"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrUnavailable):
		return &chatError{code: CodeUnavailable, message: "the message store is unavailable, retry"}
	default:
		return &chatError{code: CodeInternal, message: "internal error"}
	}
}

// reply answers an event: the ack when the client asked for one, else an error event for a
// failure (a success without an ack needs no answer).
func reply(s *server.Socket, ack server.AckFunc, result map[string]any, err *chatError) {
	if err == nil {
		if ack != nil {
			if result == nil {
				result = map[string]any{}
			}
			result["ok"] = true
			ack(result)
		}
		return
	}
	e := map[string]any{"code": err.code, "message": err.message}
	if err.retryAfterMs > 0 {
		e["retryAfterMs"] = err.retryAfterMs
	}
	if ack != nil {
		ack(map[string]any{"ok": false, "error": e})
		return
	}
	_ = s.Emit("error", e)
}

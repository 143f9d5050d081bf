package hub

import (
	"time"

	"edgeio/server/auth"
	"edgeio/server/security"
)

// Options configures the chat app. Zero fields take SPEC.md's defaults.
type Options struct {
	RoomPolicy        auth.RoomPolicy       // rooms for tokens without a rooms claim (open)
	Sanitize          security.SanitizeMode // html
	MaxContentLength  int                   // characters after trimming (10,000)
	ReceiptWindow     time.Duration         // mark-as-read merge window (100 ms)
	TypingTimeout     time.Duration         // a typing-start with no refresh ends after (5 s)
	PresenceGrace     time.Duration         // offline goes out this long after the last disconnect (5 s)
	MaxRoomsPerSocket int                   // rooms one socket may be in, its personal room aside (100)
	StoreTimeout      time.Duration         // one store call (5 s)
}

func (o *Options) fill() {
	if o.RoomPolicy == "" {
		o.RoomPolicy = auth.RoomsOpen
	}
	if o.Sanitize == "" {
		o.Sanitize = security.SanitizeHTML
	}
	if o.MaxContentLength <= 0 {
		o.MaxContentLength = 10_000
	}
	if o.ReceiptWindow <= 0 {
		o.ReceiptWindow = 100 * time.Millisecond
	}
	if o.TypingTimeout <= 0 {
		o.TypingTimeout = 5 * time.Second
	}
	if o.PresenceGrace < 0 {
		o.PresenceGrace = 0
	}
	if o.MaxRoomsPerSocket <= 0 {
		o.MaxRoomsPerSocket = 100
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = 5 * time.Second
	}
}

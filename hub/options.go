package hub

import (
	"time"

	"edgeio/server"
	"edgeio/server/auth"
	"edgeio/server/security"
)

// Options configures the chat app. Zero fields take the documented defaults (docs/events.md, docs/security.md).
type Options struct {
	RoomPolicy        auth.RoomPolicy       // rooms for tokens without a rooms claim (open)
	Sanitize          security.SanitizeMode // html
	MaxContentLength  int                   // characters after trimming (10,000)
	ReceiptWindow     time.Duration         // mark-as-read merge window (100 ms)
	TypingTimeout     time.Duration         // a typing-start with no refresh ends after (5 s)
	PresenceGrace     time.Duration         // offline goes out this long after the last disconnect (5 s)
	MaxRoomsPerSocket int                   // rooms one socket may be in, its personal room aside (100)
	BigRoom           int                   // members from which a room's member events are coalesced (1,000; <0: never)
	BigRoomTick       time.Duration         // how often a big room's coalesced events go out (1 s)
	StoreTimeout      time.Duration         // one store call (5 s)
	// BroadcastAfterSync holds new-message back until the message is durable; by default
	// the room gets it while the store's commit runs, and only the ack waits (bolt store).
	BroadcastAfterSync bool

	MessagesPerMinute int // send-message per user per minute on this node (30; <0 turns it off)
	EditsPerMinute    int // edit-message and delete-message per user per minute on this node (30; <0: off)
	ReceiptsPerSecond int // mark-as-read per user per second on this node (5; <0: off)
	PresencePerSecond int // update-presence per user per second on this node (2; <0: off)
	JoinsPerMinute    int // join-room and leave-room per user per minute on this node (120; <0: off)
	StorageQuota      int // bytes of text and attachments a user may store a day on this node (100 MB; <0: off)
	HistoryMaxBytes   int // bytes of messages in one get-history page (1,000,000; <0: no bound)
	MaxNameLength     int // characters of a display name; longer names are cut (64; <0: no bound)
	EventsPerSecond   int // events per socket per second (20; <0 turns it off)
	EventBurst        int // burst of events per socket (50)
	FloodLimit        int // refusals in a row before a socket is disconnected (100)

	AuthCookie string // a cookie that may carry the token (needs the double-submit CSRF token)
	CSRFCookie string // the cookie whose value the CSRF token must equal ("csrf_token")

	// OnAuthFailure hears of each refused handshake, with the client's address. When the
	// failure bans the address it returns how long for: the refusal then says BANNED, and
	// once it is on its way the address's connections are expelled (Expel).
	OnAuthFailure func(s *server.Socket) (bannedFor time.Duration)
	// OnRefused counts refusals by reason (metrics).
	OnRefused func(reason string)
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
	if o.BigRoomTick <= 0 {
		o.BigRoomTick = time.Second
	}
	defaults := []struct {
		field *int
		value int
	}{ // 0 takes the default; the budgets read <0 as off
		{&o.MessagesPerMinute, 30},
		{&o.EventsPerSecond, 20},
		{&o.EditsPerMinute, 30},
		{&o.ReceiptsPerSecond, 5},
		{&o.PresencePerSecond, 2},
		{&o.JoinsPerMinute, 120},
		{&o.StorageQuota, 100_000_000},
		{&o.HistoryMaxBytes, 1_000_000},
		{&o.MaxNameLength, 64},
		{&o.BigRoom, 1000},
	}
	for _, d := range defaults {
		if *d.field == 0 {
			*d.field = d.value
		}
	}
	if o.EventBurst <= 0 {
		o.EventBurst = 50
	}
	if o.FloodLimit <= 0 {
		o.FloodLimit = 100
	}
	if o.CSRFCookie == "" {
		o.CSRFCookie = "csrf_token"
	}
	if o.OnRefused == nil {
		o.OnRefused = func(string) {}
	}
}

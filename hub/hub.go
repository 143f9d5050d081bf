package hub

import (
	"context"
	"errors"
	"sync"
	"time"

	"edgeio/hub/store"
	"edgeio/server"
	"edgeio/server/auth"
	"edgeio/server/security"
	"edgeio/shard"
)

// Hub is the chat app on one server.
type Hub struct {
	io       *server.Server
	nsp      *server.Namespace
	store    store.Store
	verifier *auth.Verifier
	opts     Options

	mu        sync.Mutex
	users     map[string]*userState            // connected users, and those inside their grace
	roomUsers map[string]map[string]*userState // room → users with a socket in it
	typing    map[roomUser]time.Time           // who types where, until when

	cluster     Cluster                           // nil on a single node
	sharing     map[string]*userState             // views to tell the other nodes (peers.go)
	shareTimer  *time.Timer                       // when they go
	sharedAt    time.Time                         // when the last went
	remote      map[string]map[string]*remoteUser // node → its users, as it told us
	remoteRooms map[string]map[string]int         // room → users other nodes have in it → how many nodes
	batches     map[batchKey]*roomBatch           // big rooms' events of this tick

	receipts    *shard.Batcher[roomUser, string]
	limits      limits      // per-user budgets of writes and broadcasts
	unannounced unannounced // failed sends a resend may find stored
	stop        chan struct{}
	stopped     sync.WaitGroup
}

// userState is one user's presence and room membership over all their sockets.
type userState struct {
	id, name string
	status   string         // chosen status; "offline" while connected means invisible
	statusAt time.Time      // when it was chosen (the latest choice on any node wins)
	sockets  int            // connected sockets
	rooms    map[string]int // room → how many of the user's sockets are in it
	lastSeen time.Time
	grace    *time.Timer // pending offline announcement
	left     []string    // rooms to tell when the grace ends
}

// member is the chat state of one socket.
type member struct {
	user *auth.User
	name string // display name, cleaned

	events *security.Limiter // events per socket

	mu    sync.Mutex
	rooms map[string]struct{} // rooms joined through join-room
}

func (m *member) in(room string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.rooms[room]
	return ok
}

// New builds the chat app; Install puts it on a server.
func New(st store.Store, v *auth.Verifier, opts Options) *Hub {
	opts.fill()
	h := &Hub{
		store:       st,
		verifier:    v,
		opts:        opts,
		users:       make(map[string]*userState),
		roomUsers:   make(map[string]map[string]*userState),
		typing:      make(map[roomUser]time.Time),
		remote:      make(map[string]map[string]*remoteUser),
		remoteRooms: make(map[string]map[string]int),
		sharing:     make(map[string]*userState),
		batches:     make(map[batchKey]*roomBatch),
		stop:        make(chan struct{}),
	}
	h.receipts = shard.NewBatcher(opts.ReceiptWindow, h.flushReceipts)
	h.limits = newLimits(opts)
	h.stopped.Add(2)
	go h.typingLoop()
	go h.bigRoomLoop()
	return h
}

// Install registers the chat app on io's main namespace.
func (h *Hub) Install(io *server.Server) {
	h.io = io
	h.nsp = io.Of("/")
	h.nsp.Use(h.authenticate).OnConnection(h.onConnection)
	// what a client that falls behind can do without; the messages themselves it gets,
	// or it is cut off and catches up from history
	h.nsp.ShedWhenCongested("user-typing", "presence-update")
	// a recovering connection takes over only a socket of the same user
	h.nsp.RecoverAs(func(s *server.Socket) string { return s.Data().(*member).user.ID })
	h.nsp.OnSlowConsumer("error", map[string]any{"code": CodeSlowConsumer, "message": "slow consumer: disconnected, reconnect and fetch history"})
	h.nsp.OnOverBudget(func(s *server.Socket, ack server.AckFunc, message string) {
		reply(s, ack, nil, &chatError{code: CodePayloadTooLarge, message: message})
	})
}

// Close stops the hub's tick loops, flushing pending receipts.
func (h *Hub) Close() {
	close(h.stop)
	h.stopped.Wait()
	h.receipts.Close()
	h.mu.Lock()
	if h.shareTimer != nil {
		h.shareTimer.Stop()
	}
	h.mu.Unlock()
}

// authenticate is the connection middleware: a valid token or CONNECT_ERROR unauthorized.
func (h *Hub) authenticate(s *server.Socket) error {
	u, err := h.verifier.Verify(h.handshakeToken(s))
	if err != nil {
		code := CodeUnauthorized
		if errors.Is(err, auth.ErrTokenExpired) {
			code = CodeTokenExpired
		}
		h.opts.OnRefused("auth_" + code)
		refusal := &server.ConnectError{Message: "unauthorized", Data: map[string]any{"code": code}}
		if h.opts.OnAuthFailure != nil {
			if d := h.opts.OnAuthFailure(s); d > 0 {
				refusal.Data = map[string]any{"code": CodeBanned, "retryAfterMs": d.Milliseconds()}
				refusal.Then = func() { h.expelBanned(s.Handshake.Address, d) }
			}
		}
		return refusal
	}
	name := security.CleanName(u.Name, h.opts.MaxNameLength, h.opts.Sanitize)
	if name == "" {
		name = u.ID
	}
	s.SetData(&member{user: u, name: name, rooms: make(map[string]struct{}),
		events: security.NewLimiter(h.opts.EventsPerSecond, h.opts.EventBurst)})
	return nil
}

type handler func(h *Hub, s *server.Socket, m *member, args []any) (map[string]any, *chatError)

// handlers is every client event of docs/events.md.
var handlers = map[string]handler{
	"join-room":         (*Hub).joinRoom,
	"leave-room":        (*Hub).leaveRoom,
	"send-message":      (*Hub).sendMessage,
	"edit-message":      (*Hub).editMessage,
	"delete-message":    (*Hub).deleteMessage,
	"mark-as-read":      (*Hub).markAsRead,
	"typing-start":      (*Hub).typingStart,
	"typing-stop":       (*Hub).typingStop,
	"update-presence":   (*Hub).updatePresence,
	"get-room-presence": (*Hub).getRoomPresence,
	"get-history":       (*Hub).getHistory,
}

func (h *Hub) onConnection(s *server.Socket) {
	m := s.Data().(*member)
	// what the CONNECT carried served its purpose (the token, recovery's pid and offset):
	// an idle connection does not keep it
	s.Handshake.Auth = nil
	s.Join(auth.PersonalRoom(m.user.ID))
	h.connected(m)
	if s.Recovered() {
		h.rejoin(s, m)
	}
	go h.sendUnread(s, m)
	// One dispatcher per socket, not one closure per event: sockets are many.
	s.OnAny(func(args []any, ack server.AckFunc) {
		if ok, wait, refusedInARow := m.events.Allow(); !ok {
			h.opts.OnRefused("event_rate")
			if refusedInARow < h.opts.FloodLimit {
				reply(s, ack, nil, rateLimited(wait))
				return
			}
			h.opts.OnRefused("flood_disconnect")
			e := rateLimited(wait)
			e.message = "too many events: disconnected"
			reply(s, ack, nil, e)
			s.Disconnect(false) // after the reply, so the client learns why; packets it sends on are strays and close it
			return
		}
		name, _ := args[0].(string)
		fn := handlers[name]
		if fn == nil {
			reply(s, ack, nil, invalid("unknown event "+name))
			return
		}
		result, err := fn(h, s, m, args[1:])
		reply(s, ack, result, err)
	})
	s.OnDisconnect(func(string) { h.disconnected(s, m) })
}

func (h *Hub) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), h.opts.StoreTimeout)
}

// exceptUser is the room of every socket of a user: "to the room's other users".
func exceptUser(m *member) string { return auth.PersonalRoom(m.user.ID) }

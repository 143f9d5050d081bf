package server

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Middleware runs for each CONNECT to a namespace, before the socket exists for the
// application. Returning an error refuses the connection: a *ConnectError sets the
// CONNECT_ERROR packet's message and data; any other error sends its text as the message.
type Middleware func(s *Socket) error

// ConnectError is the refusal a middleware returns.
type ConnectError struct {
	Message string
	Data    any
	// Then, when set, runs once the CONNECT_ERROR is queued on the connection: whatever
	// the refusal leads to (closing this connection, say) comes after the client has it.
	Then func()
}

func (e *ConnectError) Error() string { return e.Message }

// Namespace is a Socket.IO namespace: its middleware, connection handlers and sockets.
type Namespace struct {
	Name string

	srv     *Server
	pattern *regexp.Regexp // set on a parent of dynamic namespaces
	parent  *Namespace     // set on a dynamic child

	mu      sync.RWMutex
	mw      []Middleware
	onConn  []func(*Socket)
	sockets map[string]*Socket

	recoverAs atomic.Pointer[func(s *Socket) string]
	shed      atomic.Pointer[map[string]bool] // events not sent to congested clients
	notice    atomic.Pointer[[]any]           // the slow consumer's last event: name, args...

	overBudget atomic.Pointer[func(s *Socket, ack AckFunc, message string)] // OnOverBudget
}

func newNamespace(srv *Server, name string, pattern *regexp.Regexp) *Namespace {
	return &Namespace{Name: name, srv: srv, pattern: pattern, sockets: make(map[string]*Socket)}
}

// Use adds a connection middleware.
func (n *Namespace) Use(mw Middleware) *Namespace {
	n.mu.Lock()
	n.mw = append(n.mw, mw)
	n.mu.Unlock()
	return n
}

// OnConnection adds a handler called for every socket that connects.
func (n *Namespace) OnConnection(fn func(*Socket)) *Namespace {
	n.mu.Lock()
	n.onConn = append(n.onConn, fn)
	n.mu.Unlock()
	return n
}

// handlers returns the middleware and connection handlers in force (a dynamic child's are
// its parent's).
func (n *Namespace) handlers() ([]Middleware, []func(*Socket)) {
	src := n
	if n.parent != nil {
		src = n.parent
	}
	src.mu.RLock()
	defer src.mu.RUnlock()
	return src.mw, src.onConn
}

// Sockets returns the connected sockets of the namespace.
func (n *Namespace) Sockets() []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return slices.Collect(maps.Values(n.sockets))
}

// Socket returns the connected socket with this id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

func (n *Namespace) add(s *Socket) {
	n.mu.Lock()
	n.sockets[s.ID] = s
	n.mu.Unlock()
}

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	delete(n.sockets, s.ID)
	n.mu.Unlock()
}

// To starts a broadcast to the members of rooms.
func (n *Namespace) To(rooms ...string) *BroadcastOperator {
	return (&BroadcastOperator{nsp: n}).To(rooms...)
}

// Except starts a broadcast to every socket but the members of rooms.
func (n *Namespace) Except(rooms ...string) *BroadcastOperator {
	return (&BroadcastOperator{nsp: n}).Except(rooms...)
}

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error {
	return (&BroadcastOperator{nsp: n}).Emit(event, args...)
}

// roomKey names a room inside the shards, where every namespace shares one key space.
// The bare namespace name is the room of all its sockets.
func (n *Namespace) roomKey(room string) string { return roomKeyIn(n.Name, room) }

func roomKeyIn(nsp, room string) string { return nsp + "\x00" + room }

// roomNames turns room keys back into the names of nsp's rooms, leaving out other
// namespaces' keys and the room skip (a socket's own id room, or "").
func roomNames(nsp string, keys []string, skip string) []string {
	prefix := roomKeyIn(nsp, "")
	var out []string
	for _, k := range keys {
		if r, ok := strings.CutPrefix(k, prefix); ok && (skip == "" || r != skip) {
			out = append(out, r)
		}
	}
	return out
}

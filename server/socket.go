package server

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"edgeio/codec"
	"edgeio/server/engine"
	"edgeio/server/recovery"
	"edgeio/shard"
)

// EventHandler handles one event: args are the event's arguments (the tree types of package
// codec), ack is nil unless the client asked for an acknowledgement.
type EventHandler func(args []any, ack AckFunc)

// AckFunc answers an event; only its first call sends anything.
type AckFunc func(args ...any)

// Handshake is what the client presented when it connected.
type Handshake struct {
	Auth    map[string]any // the CONNECT packet's auth payload (empty when none)
	Address string         // the client's IP address
	Time    time.Time

	req *engine.Request
}

// Header returns the handshake request's headers (parsed on each call).
func (h *Handshake) Header() http.Header { return h.req.Header() }

// Query returns the handshake request's query parameters (parsed on each call).
func (h *Handshake) Query() url.Values { return h.req.Query() }

type pendingAck struct {
	cb    func([]any, error)
	timer *time.Timer
}

// Socket is one client connected to one namespace.
type Socket struct {
	// What a delivery reads, first and copied from the client: a broadcast to a room
	// touches each member once, and every pointer followed is a likely cache miss.
	sess   *engine.Session
	parser parserKind
	rec    *recovery.Member // connection state recovery's view of it (nil without): its broadcasts carry offsets

	ID        string
	Namespace *Namespace
	Handshake *Handshake

	client *client
	shard  *shard.Shard

	mu           sync.Mutex
	connected    bool
	handlers     map[string]EventHandler
	onAny        EventHandler
	onDisconnect []func(reason string)
	acks         map[int64]*pendingAck
	nextAck      int64
	data         any
}

func newSocket(nsp *Namespace, c *client, auth map[string]any) *Socket {
	id := newSocketID()
	req := c.sess.Request
	host := req.ClientIP.String()
	if !req.ClientIP.IsValid() {
		host, _, _ = net.SplitHostPort(req.RemoteAddr)
	}
	if auth == nil {
		auth = map[string]any{}
	}
	return &Socket{
		sess:      c.sess,
		parser:    c.parser,
		ID:        id,
		Namespace: nsp,
		Handshake: &Handshake{Auth: auth, Address: host, Time: time.Now(), req: req},
		client:    c,
		shard:     nsp.srv.shards.For(id),
		handlers:  make(map[string]EventHandler),
	}
}

// Transport is the Engine.IO transport the socket's connection uses now.
func (s *Socket) Transport() string { return s.client.sess.Transport() }

// SetData attaches application data to the socket (socket.data in Socket.IO).
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Data returns what SetData attached.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Connected reports whether the socket is still connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// On registers the handler of an event, replacing any before it.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	s.handlers[event] = h
	s.mu.Unlock()
}

// OnAny registers a handler for events that have none of their own; args[0] is the name.
func (s *Socket) OnAny(h EventHandler) {
	s.mu.Lock()
	s.onAny = h
	s.mu.Unlock()
}

// OnDisconnect registers a handler called once with the reason the socket went away.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, fn)
	s.mu.Unlock()
}

// Emit sends an event to this socket.
func (s *Socket) Emit(event string, args ...any) error {
	if isReserved(event) {
		return ErrReservedEvent
	}
	return s.send(&codec.SPacket{Type: codec.SEvent, Nsp: s.Namespace.Name, ID: codec.NoID, Data: eventData(event, args)})
}

// EmitWithAck sends an event that the client acknowledges; cb gets the client's answer, or
// ErrAckTimeout after timeout (0: the server's AckTimeout), or ErrDisconnected.
func (s *Socket) EmitWithAck(event string, args []any, timeout time.Duration, cb func(reply []any, err error)) error {
	if isReserved(event) {
		return ErrReservedEvent
	}
	if timeout <= 0 {
		timeout = s.Namespace.srv.opts.AckTimeout
	}
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return ErrDisconnected
	}
	id := s.nextAck
	s.nextAck++
	if s.acks == nil {
		s.acks = make(map[int64]*pendingAck)
	}
	pa := &pendingAck{cb: cb}
	pa.timer = time.AfterFunc(timeout, func() {
		if p := s.takeAck(id); p != nil {
			p.cb(nil, ErrAckTimeout)
		}
	})
	s.acks[id] = pa
	s.mu.Unlock()
	return s.send(&codec.SPacket{Type: codec.SEvent, Nsp: s.Namespace.Name, ID: id, Data: eventData(event, args)})
}

func (s *Socket) takeAck(id int64) *pendingAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.acks[id]
	delete(s.acks, id)
	return p
}

func (s *Socket) send(p *codec.SPacket) error {
	pkts, err := s.client.encode(p)
	if err != nil {
		return err
	}
	if !s.client.sess.SendMany(pkts) {
		return ErrDisconnected
	}
	return nil
}

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) {
	keys := make([]string, len(rooms))
	for i, r := range rooms {
		keys[i] = s.Namespace.roomKey(r)
	}
	s.shard.Join(s, keys...)
	if s.rec != nil {
		s.Namespace.srv.recovery.Moved(s.rec, true, keys)
	}
}

// Leave removes the socket from rooms.
func (s *Socket) Leave(rooms ...string) {
	keys := make([]string, len(rooms))
	for i, r := range rooms {
		keys[i] = s.Namespace.roomKey(r)
	}
	s.shard.Leave(s, keys...)
	if s.rec != nil {
		s.Namespace.srv.recovery.Moved(s.rec, false, keys)
	}
}

// Rooms lists the rooms the socket is in, its own id room included.
func (s *Socket) Rooms() []string {
	return roomNames(s.Namespace.Name, s.shard.Rooms(s), "")
}

// To starts a broadcast to rooms that skips this socket (socket.to(room) in Socket.IO).
func (s *Socket) To(rooms ...string) *BroadcastOperator {
	return (&BroadcastOperator{nsp: s.Namespace, skip: s}).To(rooms...)
}

// Broadcast starts a broadcast to the whole namespace but this socket.
func (s *Socket) Broadcast() *BroadcastOperator {
	return &BroadcastOperator{nsp: s.Namespace, skip: s}
}

// Disconnect ends the socket's membership of its namespace; with closeConn the whole
// connection closes too.
func (s *Socket) Disconnect(closeConn bool) {
	if !s.Connected() {
		return
	}
	_ = s.send(&codec.SPacket{Type: codec.SDisconnect, Nsp: s.Namespace.Name, ID: codec.NoID})
	s.onClose(ReasonServerDisconnect)
	if closeConn {
		s.client.sess.Close(ReasonForcedClose)
	}
}

// CloseTransport closes the socket's underlying connection without a Socket.IO goodbye, as
// a network failure would (the client reconnects).
func (s *Socket) CloseTransport() { s.client.sess.Close(ReasonForcedClose) }

// Deliver sends a broadcast frame; shards call it.
func (s *Socket) Deliver(msg any) {
	f := msg.(*outFrame)
	if f.volatile && !s.sess.Writable() || f.shed && s.shedding(f) {
		return
	}
	if p, enc := f.prepared(s.parser, s.rec != nil); p != nil && s.sess.SendPrepared(p) {
		f.recipients[enc].Add(1)
	}
}

// DeliverBatch is Deliver for several broadcasts that queued up in the socket's shard: their
// frames go out in one write (shard.BatchMember).
func (s *Socket) DeliverBatch(msgs []any) {
	ps := make([]*engine.Prepared, 0, len(msgs))
	frames := make([]*outFrame, 0, len(msgs))
	encs := make([]int, 0, len(msgs))
	for _, msg := range msgs {
		f := msg.(*outFrame)
		if f.volatile && !s.sess.Writable() || f.shed && s.shedding(f) {
			continue
		}
		if p, enc := f.prepared(s.parser, s.rec != nil); p != nil {
			ps = append(ps, p)
			frames = append(frames, f)
			encs = append(encs, enc)
		}
	}
	if len(ps) > 0 && s.sess.SendPreparedMany(ps) {
		for i, f := range frames {
			f.recipients[encs[i]].Add(1)
		}
	}
}

func (s *Socket) onPacket(p *codec.SPacket) {
	switch p.Type {
	case codec.SEvent, codec.SBinaryEvent:
		args, _ := p.Data.([]any)
		if len(args) == 0 {
			return
		}
		name, _ := args[0].(string)
		var ack AckFunc
		if p.ID != codec.NoID {
			ack = s.ackFunc(p.ID)
		}
		s.mu.Lock()
		h := s.handlers[name]
		anyH := s.onAny
		s.mu.Unlock()
		switch {
		case h != nil:
			h(args[1:], ack)
		case anyH != nil:
			anyH(args, ack)
		}
	case codec.SAck, codec.SBinaryAck:
		if pa := s.takeAck(p.ID); pa != nil {
			pa.timer.Stop()
			args, _ := p.Data.([]any)
			pa.cb(args, nil)
		}
	case codec.SDisconnect:
		s.onClose(ReasonClientDisconnect)
	}
}

func (s *Socket) ackFunc(id int64) AckFunc {
	var sent atomic.Bool
	return func(args ...any) {
		if sent.Swap(true) {
			return
		}
		if args == nil {
			args = []any{}
		}
		_ = s.send(&codec.SPacket{Type: codec.SAck, Nsp: s.Namespace.Name, ID: id, Data: args})
	}
}

// onClose runs once when the socket leaves its namespace for whatever reason.
func (s *Socket) onClose(reason string) {
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return
	}
	s.connected = false
	acks := s.acks
	s.acks = nil
	handlers := s.onDisconnect
	s.mu.Unlock()

	s.saveForRecovery(reason)
	s.shard.LeaveAll(s)
	s.Namespace.remove(s)
	s.client.removeSocket(s)
	for _, pa := range acks {
		pa.timer.Stop()
		pa.cb(nil, ErrDisconnected)
	}
	for _, fn := range handlers {
		fn(reason)
	}
}

// newSocketID is a random 20-character id, as Socket.IO's own.
func newSocketID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

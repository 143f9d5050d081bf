package server

import (
	"context"
	"slices"

	"edgeio/codec"
	"edgeio/server/engine"
	"edgeio/server/recovery"
)

// Connection state recovery (package recovery): the CONNECT reply of a socket whose client
// tracks offsets (tracksOffsets) carries a private session id (pid) besides its sid, and
// every room broadcast it could miss carries an offset as its last argument. A client that lost its connection sends {pid, offset} with
// its next CONNECT; within the recovery window it gets the same sid, its rooms back and, in
// order, every broadcast after that offset that reached those rooms, and socket.recovered
// is true: on this node, after a restart (the journal), or on another node of a cluster
// (through the adapter's RecoveryPeers).

// RecoveryOptions turn connection state recovery on (Window > 0).
type RecoveryOptions = recovery.Options

// stateRecovery is connection state recovery as the server uses it: it logs a room
// broadcast, keeps a failed socket's state, and restores one for a socket that connects;
// the rest is bookkeeping around those. *recovery.Log implements it.
type stateRecovery interface {
	Log(b recovery.Broadcast, send func(offset string))
	Restore(r recovery.Request, peers recovery.Peers, attach recovery.Attach, done func(after func()))
	Keep(m *recovery.Member, rooms <-chan []string)
	Forget(m *recovery.Member)
	Moved(m *recovery.Member, joined bool, rooms []string)
	AfterEnd(m *recovery.Member, fn func())
	// another node takes a kept state over
	Claim(c recovery.Claim) *recovery.Claimed
	Collect(pid string) *recovery.Collected
	AwaitTakeovers(ctx context.Context)
	Stats() recovery.Stats
	Close()
}

// RecoverAs sets how the namespace identifies a socket's user, after its middlewares ran
// (the user id the token named, say): a recovering socket takes over only a saved state of
// the same identity. Without it, any socket presenting the pid recovers.
func (n *Namespace) RecoverAs(who func(s *Socket) string) *Namespace {
	n.recoverAs.Store(&who)
	return n
}

func (n *Namespace) identity(s *Socket) string {
	if fn := n.recoverAs.Load(); fn != nil {
		return (*fn)(s)
	}
	return ""
}

// Recovered reports whether the socket took over the state of a socket that had lost its
// connection (socket.recovered on the client).
func (s *Socket) Recovered() bool { return s.rec != nil && s.rec.Recovered() }

// RestoredRooms lists the rooms a recovered socket got back, its own id room left out.
func (s *Socket) RestoredRooms() []string {
	if s.rec == nil {
		return nil
	}
	return roomNames(s.Namespace.Name, s.rec.Restored(), s.ID)
}

// KeptForRecovery reports whether the disconnected socket's state is kept for its client
// to come back to (its connection failed, and recovery is on).
func (s *Socket) KeptForRecovery() bool { return s.rec != nil && s.rec.Kept() }

// AfterRecovery runs fn once the kept state is over: taken over by a socket, here or on
// another node (after the new socket's connection handlers ran), or expired; at once when
// nothing is kept. The app holds what the state needs meanwhile (the rooms' traffic from
// other nodes, say).
func (s *Socket) AfterRecovery(fn func()) {
	if !s.KeptForRecovery() {
		fn()
		return
	}
	s.Namespace.srv.recovery.AfterEnd(s.rec, fn)
}

// recoverable reports whether a socket closed for reason may be recovered: the connection
// failed, not the client or the server ending it on purpose.
func recoverable(reason string) bool {
	switch reason {
	case engine.ReasonTransportClose, engine.ReasonTransportError, engine.ReasonPingTimeout,
		engine.ReasonShutdown, engine.ReasonSlowConsumer, ReasonForcedClose:
		return true
	}
	return false
}

// tracksOffsets reports whether the socket's client keeps recovery offsets, so that its room
// broadcasts may carry one more argument: it asked in its CONNECT ({recovery: true}), or it
// came back with a pid (stock socket.io-client sends the pid it got, and only then), or the
// server gives them to every socket (RecoveryOptions.ForAll). Other clients, those with
// fixed-arity handlers among them, get exactly each event's arguments and no pid.
func (s *Socket) tracksOffsets() bool {
	if s.Namespace.srv.opts.Recovery.ForAll {
		return true
	}
	if asked, _ := s.Handshake.Auth["recovery"].(bool); asked {
		return true
	}
	pid, _ := s.Handshake.Auth["pid"].(string)
	return pid != ""
}

// restore connects s with recovery on: it takes over the state its CONNECT names ({pid,
// offset} in the auth payload) when that is still recoverable, else starts afresh with a
// pid of its own. done runs once it is connected, perhaps on another goroutine.
func (s *Socket) restore(rec stateRecovery, done func(after func())) {
	nsp := s.Namespace
	pid, _ := s.Handshake.Auth["pid"].(string)
	offset, _ := s.Handshake.Auth["offset"].(string)
	r := recovery.Request{Claim: recovery.Claim{Nsp: nsp.Name, PID: pid, Offset: offset, Who: nsp.identity(s)}, SID: s.ID, Conn: s}
	rec.Restore(r, nsp.srv.recoveryPeers(), s.attach, done)
}

// attach adds s to its namespace and rooms and sends its CONNECT reply and, recovered,
// every broadcast it missed, in order (recovery.Attach). It runs under the recovery log's
// lock: the broadcasts after these come through the shards after its joins.
func (s *Socket) attach(m *recovery.Member, missed []recovery.Missed) (rooms []string) {
	nsp := s.Namespace
	s.rec = m
	if m.Recovered() {
		s.ID, s.shard = m.SID(), nsp.srv.shards.For(m.SID())
		nsp.srv.metrics.recoveries.Inc()
		nsp.srv.metrics.replayed.Add(float64(len(missed)))
	}
	nsp.add(s)
	rooms = []string{nsp.Name, nsp.roomKey(s.ID)}
	for _, r := range m.Restored() {
		if !slices.Contains(rooms, r) {
			rooms = append(rooms, r)
		}
	}
	s.shard.Join(s, rooms...)
	_ = s.send(&codec.SPacket{Type: codec.SConnect, Nsp: nsp.Name, ID: codec.NoID, Data: map[string]any{"sid": s.ID, "pid": m.PID()}})
	if len(missed) > 0 {
		s.replay(missed)
	}
	return rooms
}

// replay sends missed broadcasts, with their offsets, in one write.
func (s *Socket) replay(missed []recovery.Missed) {
	st := s.Namespace.srv.opts.Engine.Stats
	ps := make([]*engine.Prepared, 0, len(missed))
	for _, m := range missed {
		p := encodeBroadcast(s.parser, codec.SPacket{Type: codec.SEvent, Nsp: s.Namespace.Name, ID: codec.NoID, Data: m.Data}, m.Offset)
		if p != nil {
			ps = append(ps, p)
			st.PacketsOut.Add(uint64(p.Packets()))
			st.BytesOut.Add(uint64(p.Size()))
		}
	}
	s.sess.SendPreparedMany(ps)
}

// saveForRecovery keeps the state of a socket whose connection failed, for the window, and
// forgets one that left on purpose. Its rooms come from its shard, as they are before it
// leaves them, without waiting: this may run on the shard's own goroutine.
func (s *Socket) saveForRecovery(reason string) {
	if s.rec == nil {
		return
	}
	rec := s.Namespace.srv.recovery
	if recoverable(reason) {
		rec.Keep(s.rec, s.shard.RoomsLater(s))
	} else {
		rec.Forget(s.rec)
	}
}

// RecoveryPeers is what an Adapter offers to recover sockets across nodes (hub/cluster,
// over Redis); rooms are room names.
type RecoveryPeers interface {
	// Hold keeps the broadcasts of nsp's rooms coming to this node until Release; wait
	// returns once they do.
	Hold(nsp string, rooms []string) (wait func())
	Release(nsp string, rooms []string)
	// Claim asks the other nodes for a kept socket state: nil when none has it.
	Claim(ctx context.Context, c Claim) (*Claimed, error)
	// Collect asks node, which gave up pid's state, for what the socket missed.
	Collect(ctx context.Context, node, pid string) (*Collected, error)
}

type (
	// Claim names a kept socket state, for the socket that would take it over.
	Claim = recovery.Claim
	// Collected is what a claimed socket missed, in order, and what it had.
	Collected = recovery.Collected
	// LoggedBroadcast is a broadcast from a recovery log: its id across nodes, the event
	// and its arguments.
	LoggedBroadcast = recovery.LoggedBroadcast
)

// Claimed is a kept socket state given up to another node.
type Claimed struct {
	Node  string   // the node that kept it
	SID   string   // the socket's id
	Rooms []string // its rooms, its id room left out
}

func (s *Server) recoveryPeers() recovery.Peers {
	if a := s.adapter.Load(); a != nil {
		if p, ok := (*a).(RecoveryPeers); ok {
			return peersByKey{p}
		}
	}
	return nil
}

// peersByKey are the adapter's RecoveryPeers as package recovery sees them: with rooms as
// room keys.
type peersByKey struct{ RecoveryPeers }

func (p peersByKey) Hold(nsp string, keys []string) (wait func()) {
	return p.RecoveryPeers.Hold(nsp, roomNames(nsp, keys, ""))
}

func (p peersByKey) Release(nsp string, keys []string) {
	p.RecoveryPeers.Release(nsp, roomNames(nsp, keys, ""))
}

func (p peersByKey) Claim(ctx context.Context, c Claim) (*recovery.Claimed, error) {
	got, err := p.RecoveryPeers.Claim(ctx, c)
	if got == nil || err != nil {
		return nil, err
	}
	keys := make([]string, len(got.Rooms))
	for i, r := range got.Rooms {
		keys[i] = roomKeyIn(c.Nsp, r)
	}
	return &recovery.Claimed{Node: got.Node, SID: got.SID, Rooms: keys}, nil
}

// ClaimKept gives up the state c names to another node, if this node kept it and it is
// still recoverable; it stays held here until CollectClaimed (or a few seconds).
func (s *Server) ClaimKept(c Claim) *Claimed {
	if s.recovery == nil {
		return nil
	}
	got := s.recovery.Claim(c)
	if got == nil {
		return nil
	}
	return &Claimed{SID: got.SID, Rooms: roomNames(c.Nsp, got.Rooms, got.SID)}
}

// CollectClaimed lists what the socket whose state was claimed missed and had, and ends
// the state here.
func (s *Server) CollectClaimed(pid string) *Collected {
	if s.recovery == nil {
		return nil
	}
	return s.recovery.Collect(pid)
}

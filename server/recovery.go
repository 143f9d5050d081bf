package server

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"edgeio/codec"
	"edgeio/server/engine"
	"edgeio/shard"
)

// Connection state recovery, as Socket.IO 4.6+ does it and stock socket.io-client 4.x
// expects: a socket's CONNECT reply carries a private session id (pid) besides its sid,
// and every broadcast it could miss carries an offset as its last argument. A client that
// lost its connection sends {pid, offset} with its next CONNECT; within the recovery window
// it gets the same sid, its rooms back and, in order, every broadcast after that offset that
// reached those rooms, and socket.recovered is true.
//
// The log of broadcasts is this server's own (in memory). A client recovers on the node it
// was on; with an adapter that offers RecoveryPeers (hub/cluster), on any other node too,
// which takes its state over from the first (recovery_handover.go).

// RecoveryOptions turn connection state recovery on (Window > 0).
type RecoveryOptions struct {
	Window     time.Duration // how long a disconnected socket's state is kept (2 min in Socket.IO)
	MaxPackets int           // broadcasts kept for replay at most (10,000)
	// Journal is a file the log and the sockets' states are written to as they change, and
	// read back from when the server starts: clients cut off by a restart, graceful or a
	// crash, recover on the next process (recovery_journal.go). "" keeps them in memory only.
	Journal string
}

// recoveryLog is the server's recent broadcasts and the states of recently disconnected
// sockets. Its lock orders broadcasts against recovering sockets: a broadcast takes its
// offset and reaches the shards under it, and a recovering socket joins its rooms and gets
// its replay under it, so that each broadcast reaches it exactly once, replayed or live.
type recoveryLog struct {
	opts  RecoveryOptions
	epoch string // offsets of another process are unknown here

	mu        sync.Mutex
	first     uint64 // sequence number of entries[0]
	entries   []logEntry
	sessions  map[string]*savedSession // by pid
	handovers map[string]*handover     // by pid: states claimed by another node, not yet collected
	live      map[string]*Socket       // by pid: connected sockets
	journal   *journal                 // nil without Journal
	saving    sync.WaitGroup           // saves under way (saveForRecovery)
}

// logEntry is a logged broadcast: its frame and whom it was for.
type logEntry struct {
	at            time.Time
	frame         *outFrame
	id            string   // the same broadcast's id on every node: its offset on the node it came from
	rooms, except []string // room keys
	skip          string   // a socket id it skipped, or ""
}

// savedSession is what a socket that lost its connection leaves for its recovery.
type savedSession struct {
	sid, nsp string
	who      string   // the application's identity of its user (Namespace.RecoverAs)
	rooms    []string // room keys, its id room included
	seen     uint64   // the log position from which it may have missed broadcasts
	expires  time.Time

	expiry *time.Timer
	onEnd  []func() // run once the state is taken over or expired (Socket.AfterRecovery)
	ended  bool
}

func newRecoveryLog(o RecoveryOptions) *recoveryLog {
	if o.Window <= 0 {
		return nil
	}
	if o.MaxPackets <= 0 {
		o.MaxPackets = 10_000
	}
	return &recoveryLog{
		opts: o,
		// the process's start and a random part: offsets double as broadcast ids across nodes
		epoch:     strconv.FormatInt(time.Now().UnixMilli(), 36) + "." + strconv.FormatUint(uint64(rand.Uint32()), 36),
		first:     1,
		sessions:  make(map[string]*savedSession),
		handovers: make(map[string]*handover),
		live:      make(map[string]*Socket),
	}
}

// broadcast gives f its offset, logs it and hands bc to the shards. origin is the
// broadcast's id on the node it came from ("" when it starts here).
func (l *recoveryLog) broadcast(f *outFrame, bc *shard.Broadcast, origin string, send func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.evict(now)
	f.offset = l.offset(l.head())
	if origin == "" {
		origin = f.offset
	}
	e := logEntry{at: now, frame: f, id: origin, rooms: bc.Rooms, except: bc.Except}
	if s, ok := bc.Skip.(*Socket); ok {
		e.skip = s.ID
	}
	l.entries = append(l.entries, e)
	if l.journal != nil {
		l.record(e.record(f.offset))
	}
	send()
}

// evict drops what is older than the window or beyond MaxPackets (callers hold mu).
func (l *recoveryLog) evict(now time.Time) {
	drop := max(len(l.entries)+1-l.opts.MaxPackets, 0)
	for drop < len(l.entries) && now.Sub(l.entries[drop].at) > l.opts.Window {
		drop++
	}
	if drop == 0 {
		return
	}
	clear(l.entries[:drop])
	l.entries = l.entries[drop:]
	l.first += uint64(drop)
	if cap(l.entries) > 2*l.opts.MaxPackets { // let the dropped front go
		l.entries = slices.Clone(l.entries)
	}
}

// head is the position of the next broadcast (callers hold mu).
func (l *recoveryLog) head() uint64 { return l.first + uint64(len(l.entries)) }

// offset names the log position seq.
func (l *recoveryLog) offset(seq uint64) string {
	return l.epoch + "-" + strconv.FormatUint(seq, 36)
}

// position parses an offset of this process into the log position after it.
func (l *recoveryLog) position(offset string) (uint64, bool) {
	epoch, seq, ok := strings.Cut(offset, "-")
	if !ok || epoch != l.epoch {
		return 0, false
	}
	n, err := strconv.ParseUint(seq, 36, 64)
	return n + 1, err == nil
}

// save keeps a disconnected socket's state for the window.
func (l *recoveryLog) save(pid string, s *savedSession) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.expires = time.Now().Add(l.opts.Window)
	l.keep(pid, s)
	l.record(s.record(pid))
}

// keep files s under pid until it expires (callers hold mu).
func (l *recoveryLog) keep(pid string, s *savedSession) {
	l.sessions[pid] = s
	s.expiry = time.AfterFunc(time.Until(s.expires), func() {
		l.mu.Lock()
		expired := l.sessions[pid] == s
		if expired {
			delete(l.sessions, pid)
			l.record(&journalRecord{Kind: recGone, PID: pid})
		}
		l.mu.Unlock()
		if expired {
			l.end(s)
		}
	})
}

// end runs what waited for the saved state to be over (callers do not hold mu).
func (l *recoveryLog) end(s *savedSession) {
	l.mu.Lock()
	fns := s.onEnd
	s.onEnd, s.ended = nil, true
	l.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// afterEnd runs fn once s is over, at once if it is already.
func (l *recoveryLog) afterEnd(s *savedSession, fn func()) {
	l.mu.Lock()
	ended := s.ended
	if !ended {
		s.onEnd = append(s.onEnd, fn)
	}
	l.mu.Unlock()
	if ended {
		fn()
	}
}

// take removes pid's saved state and reports whether it is still recoverable from offset
// ("" when the client got no broadcast since it connected) by a socket of identity who:
// not expired, in nsp, and with nothing it missed evicted from the log. It returns the
// state it removed (to be ended by the caller) and the position to replay from. Callers
// hold mu.
func (l *recoveryLog) take(pid, offset, nsp, who string) (s *savedSession, from uint64, ok bool) {
	s = l.sessions[pid]
	if s == nil {
		return nil, 0, false
	}
	delete(l.sessions, pid)
	s.expiry.Stop()
	l.record(&journalRecord{Kind: recGone, PID: pid})
	from = s.seen
	if offset != "" {
		pos, known := l.position(offset)
		if !known {
			return s, 0, false
		}
		from = pos
	}
	ok = s.nsp == nsp && s.who == who && time.Now().Before(s.expires) && from >= l.first && from <= l.head()
	return s, from, ok
}

// missed lists the logged broadcasts from position from on that reached rooms and were not
// meant to skip sid (callers hold mu).
func (l *recoveryLog) missed(from uint64, sid string, rooms []string) []*outFrame {
	var out []*outFrame
	for _, e := range l.entries[from-l.first:] {
		if e.reaches(sid, rooms) {
			out = append(out, e.frame)
		}
	}
	return out
}

// reaches reports whether the broadcast was delivered to a socket in rooms.
func (e *logEntry) reaches(sid string, rooms []string) bool {
	if e.skip == sid {
		return false
	}
	for _, r := range e.except {
		if slices.Contains(rooms, r) {
			return false
		}
	}
	for _, r := range e.rooms {
		if slices.Contains(rooms, r) {
			return true
		}
	}
	return false
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
func (s *Socket) Recovered() bool { return s.recovered }

// RestoredRooms lists the rooms a recovered socket got back, its own id room left out.
func (s *Socket) RestoredRooms() []string { return roomNames(s.Namespace.Name, s.restored, s.ID) }

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

// join connects s with recovery on: it takes over the saved state its CONNECT names
// ({pid, offset} in the auth payload) when that is still recoverable, else starts afresh
// with a pid of its own.
func (s *Socket) join(log *recoveryLog) {
	nsp := s.Namespace
	pid, offset := s.recoveryAuth()
	log.mu.Lock()
	saved, from, ok := log.take(pid, offset, nsp.Name, nsp.identity(s))
	var missed []*outFrame
	if ok {
		s.resume(pid, saved.sid, saved.rooms)
		missed = log.missed(from, s.ID, saved.rooms)
	}
	s.attach(log, missed)
	log.mu.Unlock()
	if saved != nil {
		// what held the state's rooms lets go once the new socket's handlers hold them
		s.afterConnect = append(s.afterConnect, func() { log.end(saved) })
	}
}

// recoveryAuth is the {pid, offset} of the socket's CONNECT.
func (s *Socket) recoveryAuth() (pid, offset string) {
	pid, _ = s.Handshake.Auth["pid"].(string)
	offset, _ = s.Handshake.Auth["offset"].(string)
	return pid, offset
}

// resume makes s the socket that had sid, in rooms (keys).
func (s *Socket) resume(pid, sid string, rooms []string) {
	s.ID, s.shard, s.pid = sid, s.Namespace.srv.shards.For(sid), pid
	s.recovered, s.restored = true, rooms
}

// attach adds s to its namespace and rooms and sends its CONNECT reply and, recovered,
// every broadcast it missed, in order. Callers hold the log's lock: the broadcasts after
// these come through the shards after its joins.
func (s *Socket) attach(log *recoveryLog, missed []*outFrame) {
	nsp := s.Namespace
	if s.pid == "" {
		s.pid = newSocketID() // made as a sid is, as Socket.IO does
	}
	nsp.add(s)
	rooms := []string{nsp.Name, nsp.roomKey(s.ID)}
	for _, r := range s.restored {
		if !slices.Contains(rooms, r) {
			rooms = append(rooms, r)
		}
	}
	s.shard.Join(s, rooms...)
	log.live[s.pid] = s
	s.seen = log.head()
	log.record(&journalRecord{Kind: recConnected, PID: s.pid, ID: s.ID, Nsp: nsp.Name, Who: nsp.identity(s), Rooms: rooms, Seq: s.seen})
	_ = s.send(&codec.SPacket{Type: codec.SConnect, Nsp: nsp.Name, ID: codec.NoID, Data: map[string]any{"sid": s.ID, "pid": s.pid}})
	if len(missed) > 0 {
		s.replay(missed)
	}
}

// replay sends missed broadcasts, with their offsets, in one write.
func (s *Socket) replay(frames []*outFrame) {
	st := s.Namespace.srv.opts.Engine.Stats
	ps := make([]*engine.Prepared, 0, len(frames))
	for _, f := range frames {
		p, _ := f.prepared(s.parser, true)
		if p == nil { // the broadcast is done and had no socket of this encoding: not kept
			p = f.encode(s.parser, true)
		}
		if p != nil {
			ps = append(ps, p)
			st.PacketsOut.Add(uint64(p.Packets()))
			st.BytesOut.Add(uint64(p.Size()))
		}
	}
	s.sess.SendPreparedMany(ps)
}

// forget drops s from the connected sockets; kept says whether its state is to be kept
// (the journal learns it when it is).
func (l *recoveryLog) forget(s *Socket, kept bool) {
	l.mu.Lock()
	if l.live[s.pid] == s {
		delete(l.live, s.pid)
		if !kept {
			l.record(&journalRecord{Kind: recGone, PID: s.pid})
		}
	}
	l.mu.Unlock()
}

// journalRooms notes that s joined (recJoined) or left (recLeft) rooms.
func (l *recoveryLog) journalRooms(s *Socket, kind byte, rooms []string) {
	if s.pid == "" {
		return
	}
	l.mu.Lock()
	if l.journal != nil && l.live[s.pid] == s {
		l.record(&journalRecord{Kind: kind, PID: s.pid, Rooms: rooms})
	}
	l.mu.Unlock()
}

// saveForRecovery keeps the state of a socket whose connection failed, for the window.
// Its rooms come from its shard, as they are before it leaves them, without waiting: this
// may run on the shard's own goroutine.
func (s *Socket) saveForRecovery(reason string) {
	log := s.Namespace.srv.recovery
	if log == nil || s.pid == "" {
		return
	}
	log.forget(s, recoverable(reason))
	if !recoverable(reason) {
		return
	}
	rooms := s.shard.RoomsLater(s)
	saved := &savedSession{sid: s.ID, nsp: s.Namespace.Name, who: s.Namespace.identity(s), seen: s.seen}
	s.saved = saved
	log.saving.Add(1)
	go func() {
		defer log.saving.Done()
		saved.rooms = <-rooms
		log.save(s.pid, saved)
	}()
}

// KeptForRecovery reports whether the disconnected socket's state is kept for its client
// to come back to (its connection failed, and recovery is on).
func (s *Socket) KeptForRecovery() bool { return s.saved != nil }

// AfterRecovery runs fn once the kept state is over: taken over by a socket, here or on
// another node (after the new socket's connection handlers ran), or expired. The app holds
// what the state needs meanwhile (the rooms' traffic from other nodes, say).
func (s *Socket) AfterRecovery(fn func()) { s.Namespace.srv.recovery.afterEnd(s.saved, fn) }

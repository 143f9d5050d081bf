package recovery

import (
	"strings"
	"time"
)

// Member is a connected socket as the log knows it: the server holds it for the socket,
// from Restore until Keep or Forget.
type Member struct {
	pid, sid, nsp, who string
	seen               uint64 // the log's position when it connected
	conn               Conn

	recovered bool     // it took over a disconnected socket's state
	restored  []string // the rooms it got back (recovered)
	kept      *state   // its state, once kept
}

// Conn is the server's socket behind a Member: a ghost's connection is closed as a failed
// one would be (and then kept, as any failed one).
type Conn interface{ CloseTransport() }

// PID is the private session id its client recovers with.
func (m *Member) PID() string { return m.pid }

// SID is the socket's id: a recovered socket's is the one of the state it took over.
func (m *Member) SID() string { return m.sid }

// Recovered reports whether the socket took over the state of a socket that had lost its
// connection.
func (m *Member) Recovered() bool { return m.recovered }

// Restored lists the rooms a recovered socket got back (room keys, its id room included).
func (m *Member) Restored() []string { return m.restored }

// Kept reports whether the disconnected socket's state is kept for its client (Keep).
func (m *Member) Kept() bool { return m.kept != nil }

// Claim names a kept socket state, for the socket that would take it over.
type Claim struct {
	Nsp, PID, Offset string // the pid and offset of the CONNECT ("" when none)
	Who              string // the new socket's identity: the application's name of its user
}

// Request is a socket that connects: what its CONNECT claims, the id it has so far, and
// the server's socket.
type Request struct {
	Claim
	SID  string
	Conn Conn
}

// Attach connects the socket of m, under the log's lock: it joins it to its rooms (a
// recovered socket gets back m.Restored()), sends its CONNECT reply ({sid, pid}) and, in
// order, the broadcasts it missed; it returns the rooms it joined.
type Attach func(m *Member, missed []Missed) (rooms []string)

// state is what a socket that lost its connection leaves for its recovery.
type state struct {
	sid, nsp string
	who      string   // the application's identity of its user
	rooms    []string // its id room included
	seen     uint64   // the log position from which it may have missed broadcasts
	expires  time.Time

	expiry *time.Timer
	onEnd  []func() // run once the state is taken over or expired (AfterEnd)
	ended  bool
}

// Restore connects the socket r names: it takes over the state r.PID names when that is
// still recoverable by r.Who, else starts afresh with a pid of its own, and calls attach.
// done gets what is to run once the socket's connection handlers ran. When the state may
// be elsewhere (held by a connected ghost of the same user, or kept by another node when
// peers is not nil) Restore waits for it on a goroutine of its own and calls done from
// there; else it calls done before it returns.
func (l *Log) Restore(r Request, peers Peers, attach Attach, done func(after func())) {
	if !l.away(r.Claim, peers) {
		done(l.join(r, attach))
		return
	}
	go func() {
		if g := l.ghost(r.Claim); g != nil {
			l.retire(g)
		}
		if peers != nil && l.claimable(r.PID, r.Offset) {
			done(l.joinFromPeers(r, peers, attach))
		} else {
			done(l.join(r, attach))
		}
	}()
}

// away reports whether c's state may be elsewhere: held by a ghost, or on another node.
func (l *Log) away(c Claim, peers Peers) bool {
	return l.ghost(c) != nil || (peers != nil && l.claimable(c.PID, c.Offset))
}

// join connects the socket r names with the state it claims from this node, if it may.
func (l *Log) join(r Request, attach Attach) (after func()) {
	l.mu.Lock()
	saved, from, ok := l.take(r.Claim)
	m := l.member(r)
	var missed []Missed
	if ok {
		m.resume(r.PID, saved.sid, saved.rooms)
		missed = l.missed(from, saved.sid, saved.rooms)
	}
	l.attach(m, missed, attach)
	l.mu.Unlock()
	if saved == nil {
		return nil
	}
	// what held the state's rooms lets go once the new socket's handlers hold them
	return func() { l.end(saved) }
}

// member is the Member of a socket that connects, not yet attached.
func (l *Log) member(r Request) *Member {
	return &Member{sid: r.SID, nsp: r.Nsp, who: r.Who, conn: r.Conn}
}

// resume makes m the socket that had sid, in rooms.
func (m *Member) resume(pid, sid string, rooms []string) {
	m.pid, m.sid, m.recovered, m.restored = pid, sid, true, rooms
}

// attach files m as connected and has the server attach its socket (callers hold mu).
func (l *Log) attach(m *Member, missed []Missed, attach Attach) {
	if m.pid == "" {
		m.pid = newPID()
	}
	rooms := attach(m, missed)
	l.live[m.pid] = m
	m.seen = l.head()
	l.record(&record{Kind: recConnected, PID: m.pid, ID: m.sid, Nsp: m.nsp, Who: m.who, Rooms: rooms, Seq: m.seen})
}

// take removes the kept state c names, if it is the claimant's own (its namespace, its
// user's identity), and reports whether it is still recoverable from c's offset ("" when
// the client got no broadcast since it connected): not expired, and with nothing it missed
// evicted from the log. Another user's claim leaves the state to its owner. It returns the
// state it removed (to be ended by the caller) and the position to replay from. Callers
// hold mu.
func (l *Log) take(c Claim) (s *state, from uint64, ok bool) {
	s = l.kept[c.PID]
	if s == nil || s.nsp != c.Nsp || s.who != c.Who {
		return nil, 0, false
	}
	delete(l.kept, c.PID)
	s.expiry.Stop()
	l.record(&record{Kind: recGone, PID: c.PID})
	from = s.seen
	if c.Offset != "" {
		pos, known := l.position(c.Offset)
		if !known {
			return s, 0, false
		}
		from = pos
	}
	ok = time.Now().Before(s.expires) && from >= l.first && from <= l.head()
	return s, from, ok
}

// Keep keeps the state of m, whose connection failed, for the window. rooms is where its
// rooms will come from (its shard, which may be the caller): Keep does not wait for them.
func (l *Log) Keep(m *Member, rooms <-chan []string) {
	l.forget(m, true)
	saved := &state{sid: m.sid, nsp: m.nsp, who: m.who, seen: m.seen}
	m.kept = saved
	l.saving.Add(1)
	go func() {
		defer l.saving.Done()
		saved.rooms = <-rooms
		l.save(m.pid, saved)
	}()
}

// Forget drops m, which left on purpose: nothing is kept.
func (l *Log) Forget(m *Member) { l.forget(m, false) }

// forget drops m from the connected sockets; kept says whether its state is to be kept
// (the journal learns it when it is).
func (l *Log) forget(m *Member, kept bool) {
	l.mu.Lock()
	if l.live[m.pid] == m {
		delete(l.live, m.pid)
		if !kept {
			l.record(&record{Kind: recGone, PID: m.pid})
		}
	}
	l.mu.Unlock()
}

// save keeps a disconnected socket's state for the window.
func (l *Log) save(pid string, s *state) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.expires = time.Now().Add(l.opts.Window)
	l.keep(pid, s)
	l.record(s.record(pid))
}

// keep files s under pid until it expires (callers hold mu).
func (l *Log) keep(pid string, s *state) {
	l.kept[pid] = s
	s.expiry = time.AfterFunc(time.Until(s.expires), func() {
		l.mu.Lock()
		expired := l.kept[pid] == s
		if expired {
			delete(l.kept, pid)
			l.record(&record{Kind: recGone, PID: pid})
		}
		l.mu.Unlock()
		if expired {
			l.end(s)
		}
	})
}

// Kept reports whether a state is kept under pid.
func (l *Log) Kept(pid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.kept[pid]
	return ok
}

// end runs what waited for the kept state to be over (callers do not hold mu).
func (l *Log) end(s *state) {
	l.mu.Lock()
	fns := s.onEnd
	s.onEnd, s.ended = nil, true
	l.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// AfterEnd runs fn once m's kept state is over: taken over by a socket, here or on another
// node (after the new socket's connection handlers ran), or expired; at once if it is
// already. The application holds what the state needs meanwhile (the rooms' traffic from
// other nodes, say).
func (l *Log) AfterEnd(m *Member, fn func()) {
	s := m.kept
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

// Moved notes that m joined or left rooms (the journal keeps connected sockets' rooms).
func (l *Log) Moved(m *Member, joined bool, rooms []string) {
	l.mu.Lock()
	if l.journal != nil && l.live[m.pid] == m {
		kind := byte(recLeft)
		if joined {
			kind = recJoined
		}
		l.record(&record{Kind: kind, PID: m.pid, Rooms: rooms})
	}
	l.mu.Unlock()
}

// ghost returns the connected socket that holds c's pid, if it has c's identity: its
// client left it without a word (a half-open connection, a poll that never comes) and is
// back.
func (l *Log) ghost(c Claim) *Member {
	if c.PID == "" {
		return nil
	}
	l.mu.Lock()
	g := l.live[c.PID]
	l.mu.Unlock()
	if g == nil || g.nsp != c.Nsp || g.who != c.Who {
		return nil
	}
	return g
}

// retire closes a ghost's connection, as its heartbeat would have in time, and waits (a
// second at most) until its state is kept.
func (l *Log) retire(g *Member) {
	g.conn.CloseTransport()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if l.Kept(g.pid) {
			return
		}
	}
}

// claimable reports whether a CONNECT names a state this node does not keep, which
// another node may: offsets of this process name states of this process.
func (l *Log) claimable(pid, offset string) bool {
	if pid == "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, here := l.kept[pid]
	_, live := l.live[pid]
	epoch, _, _ := strings.Cut(offset, "-")
	return !here && !live && epoch != l.epoch
}

package server

import (
	"context"
	"log"
	"strings"
	"time"

	"edgeio/codec"
	"edgeio/server/engine"
)

// Connection state recovery across nodes. A client may come back to another node than the
// one that kept its state: the load balancer sent its reconnection elsewhere, or its node
// is draining. The node it comes to takes the state over in two steps, through the
// adapter's RecoveryPeers (hub/cluster, over Redis):
//
//  1. claim: the node that kept the state gives it up (once) and names its rooms; it goes
//     on receiving and logging the rooms' broadcasts, as it did while the state was kept.
//  2. collect: once the new node receives the rooms' broadcasts itself, the old one sends
//     those the socket missed, and the ids of those it had, and lets the rooms go.
//
// The new node replays the missed broadcasts, then those of its own log since step 1 that
// the old one did not list. A broadcast carries the same id on every node (its offset on
// the node it came from), so each reaches the socket once.

// RecoveryPeers is what an Adapter offers to recover sockets across nodes.
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

// Claim names a kept socket state, for the socket that would take it over.
type Claim struct {
	Nsp, PID, Offset string
	Who              string // the new socket's identity (Namespace.RecoverAs)
}

// Claimed is a kept socket state given up to another node.
type Claimed struct {
	Node  string   // the node that kept it
	SID   string   // the socket's id
	Rooms []string // its rooms, its id room left out
}

// Collected is what a claimed socket missed, in order, and what it had.
type Collected struct {
	Missed []LoggedBroadcast
	Had    []string // ids of the broadcasts to its rooms it received
}

// LoggedBroadcast is a broadcast from a recovery log: its id across nodes, the event and
// its arguments.
type LoggedBroadcast struct {
	ID   string
	Data []any
}

// claimTimeout bounds the wait for the other nodes' answers to a claim (a node that died
// and is not yet known dead never answers); handoverTimeout bounds the collect, and how
// long a claimed state waits to be collected.
const (
	claimTimeout    = time.Second
	handoverTimeout = 3 * time.Second
)

// handover is a state claimed by another node, not yet collected.
type handover struct {
	saved *savedSession
	from  uint64 // the log position it missed broadcasts from
	timer *time.Timer
}

func (s *Server) recoveryPeers() RecoveryPeers {
	if a := s.adapter.Load(); a != nil {
		p, _ := (*a).(RecoveryPeers)
		return p
	}
	return nil
}

// ClaimKept gives up the state c names to another node, if this node kept it and it is
// still recoverable; it stays held here until CollectClaimed (or handoverTimeout).
func (s *Server) ClaimKept(c Claim) *Claimed {
	l := s.recovery
	if l == nil {
		return nil
	}
	if g := l.ghost(c.PID, c.Who, c.Nsp); g != nil {
		l.retire(g)
	}
	l.mu.Lock()
	saved, from, ok := l.take(c.PID, c.Offset, c.Nsp, c.Who)
	if ok {
		h := &handover{saved: saved, from: from}
		l.handovers[c.PID] = h
		h.timer = time.AfterFunc(handoverTimeout, func() {
			l.mu.Lock()
			stale := l.handovers[c.PID] == h
			if stale {
				delete(l.handovers, c.PID)
			}
			l.mu.Unlock()
			if stale {
				l.end(saved)
			}
		})
	}
	l.mu.Unlock()
	if saved == nil {
		return nil
	}
	if !ok {
		l.end(saved)
		return nil
	}
	return &Claimed{SID: saved.sid, Rooms: roomNames(c.Nsp, saved.rooms, saved.sid)}
}

// CollectClaimed lists what the socket whose state was claimed missed and had, and ends
// the state here.
func (s *Server) CollectClaimed(pid string) *Collected {
	l := s.recovery
	if l == nil {
		return nil
	}
	l.mu.Lock()
	h := l.handovers[pid]
	if h == nil {
		l.mu.Unlock()
		return nil
	}
	delete(l.handovers, pid)
	h.timer.Stop()
	out := &Collected{}
	for i, e := range l.entries {
		if !e.reaches(h.saved.sid, h.saved.rooms) {
			continue
		}
		if l.first+uint64(i) < h.from {
			out.Had = append(out.Had, e.id)
		} else {
			out.Missed = append(out.Missed, LoggedBroadcast{ID: e.id, Data: e.frame.pkt.Data.([]any)})
		}
	}
	l.mu.Unlock()
	l.end(h.saved)
	return out
}

// claimable reports whether s's CONNECT names a state this node does not keep, which
// another node may: offsets of this process name states of this process.
func (l *recoveryLog) claimable(pid, offset string) bool {
	if pid == "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, here := l.sessions[pid]
	_, live := l.live[pid]
	epoch, _, _ := strings.Cut(offset, "-")
	return !here && !live && epoch != l.epoch
}

// ghost returns the connected socket that holds pid, if it has identity who: its client
// left it without a word (a half-open connection, a poll that never comes) and is back.
func (l *recoveryLog) ghost(pid, who, nsp string) *Socket {
	if pid == "" {
		return nil
	}
	l.mu.Lock()
	g := l.live[pid]
	l.mu.Unlock()
	if g == nil || g.Namespace.Name != nsp || g.Namespace.identity(g) != who {
		return nil
	}
	return g
}

// retire closes a ghost's connection, as its heartbeat would have in time, and waits (a
// second at most) until its state is kept.
func (l *recoveryLog) retire(g *Socket) {
	g.client.sess.Close(engine.ReasonTransportClose)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		l.mu.Lock()
		_, kept := l.sessions[g.pid]
		l.mu.Unlock()
		if kept {
			return
		}
	}
}

// recoverAway connects s when its state may be elsewhere: held by a ghost of its own here,
// or kept by another node. It waits: callers run it on a goroutine of its own.
func (s *Socket) recoverAway(log *recoveryLog, peers RecoveryPeers) {
	pid, offset := s.recoveryAuth()
	if g := log.ghost(pid, s.Namespace.identity(s), s.Namespace.Name); g != nil {
		log.retire(g)
	}
	if peers != nil && log.claimable(pid, offset) {
		s.joinFromPeers(log, peers)
	} else {
		s.join(log)
	}
}

// away reports whether s's state may be elsewhere (recoverAway).
func (l *recoveryLog) away(s *Socket, peers RecoveryPeers) bool {
	pid, offset := s.recoveryAuth()
	return l.ghost(pid, s.Namespace.identity(s), s.Namespace.Name) != nil || (peers != nil && l.claimable(pid, offset))
}

// joinFromPeers connects s by taking its state over from another node, or afresh when no
// node gives it up. It waits for other nodes: callers run it on a goroutine of its own.
func (s *Socket) joinFromPeers(log *recoveryLog, peers RecoveryPeers) {
	nsp := s.Namespace
	pid, offset := s.recoveryAuth()
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	claimed, err := peers.Claim(ctx, Claim{Nsp: nsp.Name, PID: pid, Offset: offset, Who: nsp.identity(s)})
	cancel()
	if err != nil || claimed == nil {
		s.join(log)
		return
	}
	log.mu.Lock()
	since := log.head()
	log.mu.Unlock()
	peers.Hold(nsp.Name, claimed.Rooms)()
	s.afterConnect = append(s.afterConnect, func() { peers.Release(nsp.Name, claimed.Rooms) })
	ctx, cancel = context.WithTimeout(context.Background(), handoverTimeout)
	got, err := peers.Collect(ctx, claimed.Node, pid)
	cancel()
	if err != nil || got == nil {
		// the node that had it is gone: nothing tells what the socket missed
		log.mu.Lock()
		s.attach(log, nil)
		log.mu.Unlock()
		return
	}
	rooms := make([]string, len(claimed.Rooms))
	for i, r := range claimed.Rooms {
		rooms[i] = nsp.roomKey(r)
	}
	known := make(map[string]bool, len(got.Had)+len(got.Missed))
	for _, id := range got.Had {
		known[id] = true
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	s.resume(pid, claimed.SID, rooms)
	// The old node's broadcasts come first, offset as the position before this node's log
	// since the claim: a client cut off again during the replay resumes from there.
	missed := make([]*outFrame, 0, len(got.Missed))
	offset = log.offset(since - 1)
	for _, b := range got.Missed {
		known[b.ID] = true
		missed = append(missed, s.loggedFrame(b.Data, offset))
	}
	since = max(since, log.first)
	for _, e := range log.entries[since-log.first:] {
		if !known[e.id] && e.reaches(s.ID, rooms) {
			missed = append(missed, e.frame)
		}
	}
	s.attach(log, missed)
}

// loggedFrame is a broadcast of another node's log, as this node would have sent it.
func (s *Socket) loggedFrame(data []any, offset string) *outFrame {
	srv := s.Namespace.srv
	return &outFrame{
		pkt:    codec.SPacket{Type: codec.SEvent, Nsp: s.Namespace.Name, ID: codec.NoID, Data: data},
		offset: offset, metrics: srv.metrics, stats: srv.opts.Engine.Stats, started: time.Now(),
	}
}

// awaitTakeovers waits, in a cluster, until every state kept here was taken over by
// another node, or ctx ends: a draining node's clients come back elsewhere, and collect
// what they missed from it.
func (s *Server) awaitTakeovers(ctx context.Context) {
	l := s.recovery
	if l == nil || s.recoveryPeers() == nil {
		return
	}
	l.saving.Wait() // the sockets the drain just closed are kept
	for {
		l.mu.Lock()
		left := len(l.sessions) + len(l.handovers)
		l.mu.Unlock()
		if left == 0 {
			return
		}
		if ctx.Err() != nil {
			log.Printf("edgeio: drain: %d kept sockets not taken over by another node", left)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

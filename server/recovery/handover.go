package recovery

import (
	"context"
	"log"
	"time"
)

// Connection state recovery across nodes. A client may come back to another node than the
// one that kept its state: the load balancer sent its reconnection elsewhere, or its node
// is draining. The node it comes to takes the state over in two steps, through Peers
// (the server's cluster adapter, over Redis):
//
//  1. claim: the node that kept the state gives it up (once) and names its rooms; it goes
//     on receiving and logging the rooms' broadcasts, as it did while the state was kept.
//  2. collect: once the new node receives the rooms' broadcasts itself, the old one sends
//     those the socket missed, and the ids of those it had, and lets the rooms go.
//
// The new node replays the missed broadcasts, then those of its own log since step 1 that
// the old one did not list. A broadcast carries the same id on every node (its offset on
// the node it came from), so each reaches the socket once.

// Peers are the other nodes of a cluster, as a restoring socket needs them.
type Peers interface {
	// Hold keeps the broadcasts of nsp's rooms coming to this node until Release; wait
	// returns once they do.
	Hold(nsp string, rooms []string) (wait func())
	Release(nsp string, rooms []string)
	// Claim asks the other nodes for a kept socket state: nil when none has it.
	Claim(ctx context.Context, c Claim) (*Claimed, error)
	// Collect asks node, which gave up pid's state, for what the socket missed.
	Collect(ctx context.Context, node, pid string) (*Collected, error)
}

// Claimed is a kept socket state given up to another node.
type Claimed struct {
	Node  string   // the node that kept it
	SID   string   // the socket's id
	Rooms []string // its rooms
}

// Collected is what a claimed socket missed, in order, and what it had.
type Collected struct {
	Missed []LoggedBroadcast
	Had    []string // ids of the broadcasts to its rooms it received
}

// LoggedBroadcast is a broadcast from a log: its id across nodes, the event and its
// arguments.
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
	saved *state
	from  uint64 // the log position it missed broadcasts from
	timer *time.Timer
}

// Claim gives up the state c names to another node, if this node kept it and it is still
// recoverable; it stays held here until Collect (or handoverTimeout). The rooms it names
// are all the state's, its id room included.
func (l *Log) Claim(c Claim) *Claimed {
	if g := l.ghost(c); g != nil {
		l.retire(g)
	}
	l.mu.Lock()
	saved, from, ok := l.take(c)
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
	return &Claimed{SID: saved.sid, Rooms: saved.rooms}
}

// Collect lists what the socket whose state was claimed missed and had, and ends the
// state here.
func (l *Log) Collect(pid string) *Collected {
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
		seq := l.first + uint64(i)
		if seq < h.from {
			out.Had = append(out.Had, l.id(seq))
		} else {
			out.Missed = append(out.Missed, LoggedBroadcast{ID: l.id(seq), Data: e.data})
		}
	}
	l.mu.Unlock()
	l.end(h.saved)
	return out
}

// joinFromPeers connects the socket r names by taking its state over from another node,
// or afresh when no node gives it up. It waits for other nodes.
func (l *Log) joinFromPeers(r Request, peers Peers, attach Attach) (after func()) {
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	claimed, err := peers.Claim(ctx, r.Claim)
	cancel()
	if err != nil || claimed == nil {
		return l.join(r, attach)
	}
	l.mu.Lock()
	since := l.head()
	l.claiming++ // the log keeps what comes meanwhile, for the replay below
	l.mu.Unlock()
	peers.Hold(r.Nsp, claimed.Rooms)()
	release := func() { peers.Release(r.Nsp, claimed.Rooms) }
	ctx, cancel = context.WithTimeout(context.Background(), handoverTimeout)
	got, err := peers.Collect(ctx, claimed.Node, r.PID)
	cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.claiming--
	m := l.member(r)
	if err != nil || got == nil {
		// the node that had it is gone: nothing tells what the socket missed
		l.attach(m, nil, attach)
		return release
	}
	known := make(map[string]bool, len(got.Had)+len(got.Missed))
	for _, id := range got.Had {
		known[id] = true
	}
	m.resume(r.PID, claimed.SID, claimed.Rooms)
	// The old node's broadcasts come first, offset as the position before this node's log
	// since the claim: a client cut off again during the replay resumes from there.
	missed := make([]Missed, 0, len(got.Missed))
	offset := l.offset(since - 1)
	for _, b := range got.Missed {
		known[b.ID] = true
		missed = append(missed, Missed{Data: b.Data, Offset: offset})
	}
	since = max(since, l.first)
	for seq := since; seq < l.head(); seq++ {
		if e := &l.entries[seq-l.first]; !known[l.id(seq)] && e.reaches(m.sid, claimed.Rooms) {
			missed = append(missed, Missed{Data: e.data, Offset: l.offset(seq)})
		}
	}
	l.attach(m, missed, attach)
	return release
}

// AwaitTakeovers waits until every state kept here was taken over by another node, or ctx
// ends: a draining node's clients come back elsewhere, and collect what they missed from
// it.
func (l *Log) AwaitTakeovers(ctx context.Context) {
	l.saving.Wait() // the sockets the drain just closed are kept
	for {
		l.mu.Lock()
		left := len(l.kept) + len(l.handovers)
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

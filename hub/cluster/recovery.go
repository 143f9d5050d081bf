package cluster

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"edgeio/codec"
	"edgeio/server"
)

// Connection state recovery across nodes (server.RecoveryPeers): a node asks the others,
// on the control channel, for the state of a socket that came back to it, and collects what
// the socket missed from the node that gives it up. Requests and answers are msgpack maps
// in a control message's payload; an answer names the node it is for.

const (
	kindClaim     = "claim"   // {q, nsp, pid, off, who}: every node answers
	kindClaimed   = "claimed" // {q, to, ok, sid, rooms}
	kindCollect   = "collect" // {q, to, pid}: only to answers
	kindCollected = "collected"
)

// requests are this node's questions waiting for answers, by request id.
type requests struct {
	mu      sync.Mutex
	waiting map[string]chan map[string]any
	next    atomic.Uint64
}

func (r *requests) open() (id string, answers chan map[string]any) {
	id = strconv.FormatUint(r.next.Add(1), 36)
	answers = make(chan map[string]any, 16)
	r.mu.Lock()
	if r.waiting == nil {
		r.waiting = make(map[string]chan map[string]any)
	}
	r.waiting[id] = answers
	r.mu.Unlock()
	return id, answers
}

func (r *requests) close(id string) {
	r.mu.Lock()
	delete(r.waiting, id)
	r.mu.Unlock()
}

func (r *requests) answer(m map[string]any) {
	id, _ := m["q"].(string)
	r.mu.Lock()
	ch := r.waiting[id]
	r.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default: // more answers than nodes: not ours to wait for
		}
	}
}

// Hold subscribes this node to the rooms until Release (server.RecoveryPeers).
func (c *Cluster) Hold(nsp string, rooms []string) (wait func()) {
	waits := make([]func(), len(rooms))
	for i, r := range rooms {
		waits[i] = c.Subscribe(nsp, r)
	}
	return func() {
		for _, w := range waits {
			w()
		}
	}
}

// Release lets the rooms of a Hold go.
func (c *Cluster) Release(nsp string, rooms []string) {
	for _, r := range rooms {
		c.Unsubscribe(nsp, r)
	}
}

// Claim asks every other node for the socket state cl names; it returns the first node's
// that gives it up, or nil once every node said no (or ctx ends).
func (c *Cluster) Claim(ctx context.Context, cl server.Claim) (*server.Claimed, error) {
	nodes := len(c.Nodes())
	if nodes == 0 {
		return nil, nil
	}
	id, answers := c.reqs.open()
	defer c.reqs.close(id)
	req := map[string]any{"q": id, "nsp": cl.Nsp, "pid": cl.PID, "off": cl.Offset, "who": cl.Who}
	if err := c.ask(ctx, kindClaim, req); err != nil {
		return nil, err
	}
	for no := 0; no < nodes; no++ {
		select {
		case m := <-answers:
			if m["ok"] != true {
				continue
			}
			node, _ := m["from"].(string)
			sid, _ := m["sid"].(string)
			return &server.Claimed{Node: node, SID: sid, Rooms: stringList(m["rooms"])}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, nil
}

// Collect asks node for what the socket whose state it gave up missed.
func (c *Cluster) Collect(ctx context.Context, node, pid string) (*server.Collected, error) {
	id, answers := c.reqs.open()
	defer c.reqs.close(id)
	if err := c.ask(ctx, kindCollect, map[string]any{"q": id, "to": node, "pid": pid}); err != nil {
		return nil, err
	}
	select {
	case m := <-answers:
		if m["ok"] != true {
			return nil, errors.New("cluster: " + node + " no longer has the state")
		}
		out := &server.Collected{Had: stringList(m["had"])}
		missed, _ := m["missed"].([]any)
		for _, v := range missed {
			pair, _ := v.([]any)
			if len(pair) != 2 {
				continue
			}
			bid, _ := pair[0].(string)
			data, _ := pair[1].([]any)
			out.Missed = append(out.Missed, server.LoggedBroadcast{ID: bid, Data: data})
		}
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ask publishes a request on the control channel.
func (c *Cluster) ask(ctx context.Context, kind string, req map[string]any) error {
	p, err := codec.EncodeMsgpackValue(nil, req)
	if err != nil {
		return err
	}
	return c.publishNow(ctx, c.controlChannel(), c.control(kind, p))
}

// onRecovery answers another node's request, or takes an answer to one of ours.
func (c *Cluster) onRecovery(from, kind string, payload []byte) {
	v, err := codec.DecodeMsgpackValue(payload)
	m, _ := v.(map[string]any)
	if err != nil || m == nil {
		return
	}
	if to, _ := m["to"].(string); kind != kindClaim && to != c.opts.NodeID {
		return
	}
	reply := map[string]any{"q": m["q"], "to": from, "from": c.opts.NodeID, "ok": false}
	switch kind {
	case kindClaimed, kindCollected:
		c.reqs.answer(m)
		return
	case kindClaim:
		str := func(k string) string { s, _ := m[k].(string); return s }
		cl := server.Claim{Nsp: str("nsp"), PID: str("pid"), Offset: str("off"), Who: str("who")}
		if got := c.io.ClaimKept(cl); got != nil {
			reply["ok"], reply["sid"], reply["rooms"] = true, got.SID, anyList(got.Rooms)
		}
		kind = kindClaimed
	case kindCollect:
		pid, _ := m["pid"].(string)
		if got := c.io.CollectClaimed(pid); got != nil {
			missed := make([]any, len(got.Missed))
			for i, b := range got.Missed {
				missed[i] = []any{b.ID, b.Data}
			}
			reply["ok"], reply["missed"], reply["had"] = true, missed, anyList(got.Had)
		}
		kind = kindCollected
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Heartbeat)
	defer cancel()
	if err := c.ask(ctx, kind, reply); err != nil {
		c.stats.Errors.Add(1)
	}
}

package cluster

import (
	"context"
	"time"

	"edgeio/codec"
)

// Control message kinds.
const (
	kindHeartbeat = "hb"
	kindHello     = "hello" // a node (re)joined: everyone resends its state
	kindBye       = "bye"
	kindPeer      = "msg" // an opaque peer message for OnPeerMessage
)

func (c *Cluster) control(kind string, payload []byte) []byte {
	m := map[string]any{"n": c.opts.NodeID, "k": kind, "i": c.instance}
	if kind == kindHeartbeat || kind == kindHello {
		c.announce(m)
	}
	if payload != nil {
		m["p"] = payload
	}
	b, _ := codec.EncodeMsgpackValue(nil, m)
	return b
}

// SendPeers publishes msg to every other node's OnPeerMessage. While Redis is away the
// message is dropped; the state it carries is resent when Redis returns (OnNodeUp).
func (c *Cluster) SendPeers(msg []byte) {
	select {
	case c.queue <- outgoing{channel: c.controlChannel(), payload: c.control(kindPeer, msg)}:
	default:
		c.stats.Dropped.Add(1)
	}
}

func (c *Cluster) onControl(payload []byte) {
	v, err := codec.DecodeMsgpackValue(payload)
	m, _ := v.(map[string]any)
	node, _ := m["n"].(string)
	kind, _ := m["k"].(string)
	if err != nil || node == "" {
		return
	}
	if node == c.opts.NodeID {
		if inst, _ := m["i"].(string); inst != "" && inst != c.instance {
			// Another process runs with our id: each drops the other's broadcasts as its
			// own echoes, so their clients silently miss each other's messages.
			if !c.dupWarned.Swap(true) {
				c.opts.Logf("edgeio: cluster: another node uses the node id %q: broadcasts between the two are lost; give each node its own --node-id", node)
			}
			return
		}
		if kind == kindHello && !c.helloHeard.Swap(true) {
			// We hear again (our subscription is live): the answers to this hello will reach
			// us, and the others' silence until now was our deafness.
			c.forgiveNodes()
		}
		return
	}
	if kind == kindBye {
		c.nodeDown(node)
		return
	}
	c.mu.Lock()
	_, known := c.nodes[node]
	c.nodes[node] = time.Now()
	c.mu.Unlock()
	c.learnRoute(node, kind, m) // before the state OnNodeUp sends: the route comes first
	if !known || kind == kindHello {
		c.opts.OnNodeUp(node)
	}
	p, _ := m["p"].([]byte)
	switch kind {
	case kindPeer:
		c.opts.OnPeerMessage(node, p)
	case kindClaim, kindCollect:
		go c.onRecovery(node, kind, p) // answering takes a Redis round trip
	case kindClaimed, kindCollected:
		c.onRecovery(node, kind, p)
	}
}

func (c *Cluster) nodeDown(node string) {
	c.mu.Lock()
	_, known := c.nodes[node]
	delete(c.nodes, node)
	c.mu.Unlock()
	if known {
		c.dropRoute(node)
		c.opts.OnNodeDown(node)
	}
}

// Nodes lists the other nodes heard from within the node timeout.
func (c *Cluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.nodes))
	for n := range c.nodes {
		out = append(out, n)
	}
	return out
}

// heartbeatLoop says this node is alive, notices Redis coming back (and then says hello so
// that every node resends its state), and reports nodes that went silent.
func (c *Cluster) heartbeatLoop() {
	defer c.stopped.Done()
	t := time.NewTicker(c.opts.Heartbeat)
	defer t.Stop()
	for beat := 0; ; beat++ {
		first := beat == 0
		kind := kindHeartbeat
		if first || !c.ready.Load() || !c.helloHeard.Load() {
			// The others answer a hello with their state; one sent before our subscription is
			// live (at start, or while go-redis resubscribes after an outage) has its answers
			// lost, so say hello until we hear our own.
			kind = kindHello
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Heartbeat)
		err := c.publishNow(ctx, c.controlChannel(), c.control(kind, nil))
		cancel()
		if err != nil {
			c.stats.Errors.Add(1)
			c.helloHeard.Store(false)
			if c.ready.Swap(false) {
				c.opts.Logf("edgeio: cluster: Redis unreachable (%v); local delivery goes on", err)
			}
		} else if !c.ready.Swap(true) && !first {
			c.opts.Logf("edgeio: cluster: Redis is back")
			c.forgiveNodes() // they could not reach us either
			// and they may have dropped us meanwhile (if only we were cut off): resend our
			// state, as our hello only makes them send theirs
			c.opts.OnNodeUp("")
		}
		if c.ready.Load() && c.helloHeard.Load() {
			c.expireNodes() // a node is judged silent only while we can hear
		}
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

func (c *Cluster) forgiveNodes() {
	now := time.Now()
	c.mu.Lock()
	for n := range c.nodes {
		c.nodes[n] = now
	}
	c.mu.Unlock()
}

func (c *Cluster) expireNodes() {
	cutoff := time.Now().Add(-c.opts.NodeTimeout)
	var gone []string
	c.mu.Lock()
	for n, seen := range c.nodes {
		if seen.Before(cutoff) {
			gone = append(gone, n)
		}
	}
	c.mu.Unlock()
	for _, n := range gone {
		c.nodeDown(n)
	}
}

package cluster

import (
	"context"

	"edgeio/server/engine"
)

// Forwarding (server/engine, forward.go) serves a client whose request reaches another
// node than its session's: the request is forwarded to that node. For that each node must
// know how to reach the others' sessions. Its heartbeats and hellos carry its route (the
// tag its session ids start with, the address the other nodes reach its client listener
// at, and the key that proves a forwarded request comes from a node of the cluster); the
// routes heard from the others go to the engine, and a node that leaves takes its route
// with it. The key travels only through Redis, which a client cannot read.

// announce adds this node's route to a heartbeat or a hello.
func (c *Cluster) announce(m map[string]any) {
	if r := c.io.Engine().Forward(c.opts.Advertise); r.Addr != "" { // the route New made
		m["r"] = []any{r.Tag, r.Addr, r.Key}
	}
}

// learnRoute hands the route that node's heartbeat or hello carries to the engine, and
// answers a hello with a heartbeat: a node that just came learns this node's route at once,
// with the state OnNodeUp sends it, not a heartbeat later.
func (c *Cluster) learnRoute(node, kind string, m map[string]any) {
	if kind != kindHeartbeat && kind != kindHello {
		return
	}
	if kind == kindHello && c.answering.CompareAndSwap(false, true) {
		go func() { // one at a time: the one under way carries the same route
			defer c.answering.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.Heartbeat)
			defer cancel()
			_ = c.publishNow(ctx, c.controlChannel(), c.control(kindHeartbeat, nil))
		}()
	}
	r, _ := m["r"].([]any)
	if len(r) != 3 {
		return
	}
	tag, _ := r[0].(string)
	addr, _ := r[1].(string)
	key, _ := r[2].(string)
	c.io.Engine().SetRoute(engine.Route{Node: node, Tag: tag, Addr: addr, Key: key})
}

// dropRoute forgets the route of a node that left.
func (c *Cluster) dropRoute(node string) { c.io.Engine().DropRoute(node) }

package cluster

import (
	"slices"
	"strings"
	"testing"
	"time"

	"edgeio/server/engine"
)

// Each node learns from the heartbeats how to reach the others' sessions, at once when it
// joins, and forgets a node that leaves; a node with no address to give announces none.
func TestRoutesRideTheHeartbeats(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	node := func(id, addr string) *Cluster {
		c := New(newServer(t), Options{Client: newClient(t, r.Addr()), NodeID: id, Advertise: addr, Heartbeat: time.Hour, Logf: t.Logf})
		c.Start()
		return c
	}
	routes := func(c *Cluster) []engine.Route {
		rs := c.io.Engine().Routes()
		slices.SortFunc(rs, func(a, b engine.Route) int { return strings.Compare(a.Node, b.Node) })
		return rs
	}
	n1 := node("n1", "127.0.0.1:3001")
	t.Cleanup(n1.Close)
	// an hour between heartbeats: n2 learns n1's route from n1's answer to its hello
	n2 := node("n2", "127.0.0.1:3002")
	mute := node("mute", "")
	t.Cleanup(mute.Close)
	want := func(c *Cluster) engine.Route {
		rt := c.io.Engine().Forward("")
		rt.Node = c.NodeID()
		return rt
	}
	eventually(t, 2*time.Second, "each node to know the other's route", func() bool {
		return slices.Equal(routes(n1), []engine.Route{want(n2)}) && slices.Equal(routes(n2), []engine.Route{want(n1)}) &&
			slices.Equal(routes(mute), []engine.Route{want(n1), want(n2)})
	})
	if rt := want(n2); rt.Addr != "127.0.0.1:3002" || len(rt.Tag) != 8 || len(rt.Key) < 32 {
		t.Fatalf("n2's route %+v", rt)
	}
	n2.Close()
	eventually(t, 2*time.Second, "n1 to forget n2's route", func() bool { return len(routes(n1)) == 0 })
}

package cluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server"
	"edgeio/server/servertest"

	"github.com/redis/go-redis/v9"
)

// recoveryPair is two nodes with connection state recovery on, alice and carol on node 1
// and bob on node 2, all three in room r.
type recoveryPair struct {
	n1, n2             *node
	alice, bob, carol  *servertest.Client
	alicePID, aliceSID string
}

func startRecoveryPair(t *testing.T, sharded bool) *recoveryPair {
	t.Helper()
	var client func() redis.UniversalClient
	if sharded {
		addrs := startRedisCluster(t)
		client = func() redis.UniversalClient { return newClusterClient(t, addrs) }
	} else {
		r := startRedis(t)
		client = func() redis.UniversalClient { return newClient(t, r.Addr()) }
	}
	cfg := func(id string) nodeConfig {
		return nodeConfig{id: id, client: client(), sharded: sharded,
			server: server.Options{Recovery: server.RecoveryOptions{Window: time.Minute}}}
	}
	p := &recoveryPair{n1: startNode(t, cfg("n1")), n2: startNode(t, cfg("n2"))}
	waitNodes(t, p.n1, p.n2)
	var reply map[string]any
	p.alice, reply = p.n1.connectWith("alice", map[string]any{"recovery": true})
	p.alicePID, _ = reply["pid"].(string)
	p.aliceSID, _ = reply["sid"].(string)
	if p.alicePID == "" {
		t.Fatalf("CONNECT reply %v: no pid", reply)
	}
	p.bob, p.carol = p.n2.connect("bob"), p.n1.connect("carol")
	for _, c := range []*servertest.Client{p.alice, p.bob, p.carol} {
		ackOK(t, c.Call("join-room", "r"))
	}
	return p
}

// sendTo has c send content to r, acknowledged.
func sendTo(t *testing.T, c *servertest.Client, content string) {
	t.Helper()
	ackOK(t, c.Call("send-message", map[string]any{"roomId": "r", "content": content}))
}

// messages reads c's new-message events until none comes for a while: their contents in
// order, and the offset the last one carried.
func messages(t *testing.T, c *servertest.Client) (contents []string, offset string) {
	t.Helper()
	for {
		time.Sleep(settle)
		c.Poll()
		got := false
		for {
			args, ok := c.Queued("new-message")
			if !ok {
				break
			}
			got = true
			m, _ := args[0].(map[string]any)
			contents = append(contents, m["content"].(string))
			if len(args) > 1 {
				offset, _ = args[len(args)-1].(string)
			}
		}
		if !got {
			return contents, offset
		}
	}
}

// A client whose connection failed on node 1 comes back to node 2 (a load balancer sent
// it there): the same sid, its room, and what was sent to the room from either node while
// it was away, once and in order; then live traffic from both nodes, once. On one Redis,
// and on Redis Cluster (sharded pub/sub).
func TestRecoveryOnAnotherNode(t *testing.T) {
	t.Parallel()
	t.Run("redis", func(t *testing.T) { t.Parallel(); testRecoveryOnAnotherNode(t, false) })
	t.Run("cluster", func(t *testing.T) { t.Parallel(); testRecoveryOnAnotherNode(t, true) })
}

func testRecoveryOnAnotherNode(t *testing.T, sharded bool) {
	p := startRecoveryPair(t, sharded)
	sendTo(t, p.bob, "before")
	got, offset := messages(t, p.alice)
	if !slices.Equal(got, []string{"before"}) || offset == "" {
		t.Fatalf("alice got %v, offset %q", got, offset)
	}

	p.alice.Session().Close("transport close")
	time.Sleep(settle) // the state is kept, the room held on node 1
	// a pause after each: which of two messages sent at once from two nodes comes first
	// differs from node to node
	for _, m := range []struct {
		from    *servertest.Client
		content string
	}{{p.bob, "from n2 while away"}, {p.carol, "from n1 while away"}, {p.bob, "from n2 again"}} {
		sendTo(t, m.from, m.content)
		time.Sleep(settle)
	}

	asked := time.Now()
	back, reply := p.n2.connectWith("alice", map[string]any{"pid": p.alicePID, "offset": offset})
	t.Logf("CONNECT answered by the other node in %v (claim and collect)", time.Since(asked))
	if reply["sid"] != p.aliceSID || reply["pid"] != p.alicePID {
		t.Fatalf("CONNECT reply %v: want sid %s and pid %s back", reply, p.aliceSID, p.alicePID)
	}
	got, _ = messages(t, back)
	if want := []string{"from n2 while away", "from n1 while away", "from n2 again"}; !slices.Equal(got, want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
	sendTo(t, p.bob, "live from n2")
	time.Sleep(settle)
	sendTo(t, p.carol, "live from n1")
	if got, _ = messages(t, back); !slices.Equal(got, []string{"live from n2", "live from n1"}) {
		t.Fatalf("live after recovery %v", got)
	}
	// the room is alice's again on node 2 without a join-room
	if args := back.Call("send-message", map[string]any{"roomId": "r", "content": "I am back"}); ackCode(args) != "" {
		t.Fatalf("send after recovery: %v", args)
	}

	// a state recovers once: node 1 gave it up
	_, reply = p.n1.connectWith("alice", map[string]any{"pid": p.alicePID, "offset": offset})
	if reply["sid"] == p.aliceSID {
		t.Fatalf("recovered twice: %v", reply)
	}
}

// Another user's token cannot take a kept state over from another node, and the attempt
// leaves it to its owner: alice, back on the other node after mallory tried, recovers.
func TestRecoveryOnAnotherNodeOnlyForTheSameUser(t *testing.T) {
	t.Parallel()
	p := startRecoveryPair(t, false)
	sendTo(t, p.bob, "before")
	_, offset := messages(t, p.alice)
	p.alice.Session().Close("transport close")
	time.Sleep(settle)
	sendTo(t, p.bob, "while away")
	for _, auth := range []map[string]any{{"pid": p.alicePID, "offset": offset}, {"pid": p.alicePID}} {
		_, reply := p.n2.connectWith("mallory", auth)
		if reply["sid"] == p.aliceSID || reply["pid"] == p.alicePID {
			t.Fatalf("mallory took alice's socket over: %v", reply)
		}
	}
	back, reply := p.n2.connectWith("alice", map[string]any{"pid": p.alicePID, "offset": offset})
	if reply["sid"] != p.aliceSID {
		t.Fatalf("alice after mallory's attempts: %v; want sid %s back", reply, p.aliceSID)
	}
	if got, _ := messages(t, back); !slices.Equal(got, []string{"while away"}) {
		t.Fatalf("alice's replay %v", got)
	}
}

// A draining node waits for its clients' states to be taken over: alice, closed by node
// 1's drain, comes back to node 2 recovered, with what was sent meanwhile.
func TestRecoveryFromADrainingNode(t *testing.T) {
	t.Parallel()
	p := startRecoveryPair(t, false)
	sendTo(t, p.bob, "before")
	_, offset := messages(t, p.alice)
	p.carol.Send(&codec.SPacket{Type: codec.SDisconnect, Nsp: "/", ID: codec.NoID}) // on purpose: not kept

	drained := make(chan error, 1)
	started := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		drained <- p.n1.io.Shutdown(ctx)
	}()
	eventually(t, 2*time.Second, "node 1's sessions to close", func() bool {
		p.alice.Poll() // a polling session closes once it collected its close packet
		p.carol.Poll()
		return p.n1.io.Engine().Len() == 0
	})
	sendTo(t, p.bob, "during the drain")
	select {
	case err := <-drained:
		t.Fatalf("node 1 drained (%v) before its kept states were taken over", err)
	case <-time.After(settle):
	}

	back, reply := p.n2.connectWith("alice", map[string]any{"pid": p.alicePID, "offset": offset})
	if reply["sid"] != p.aliceSID {
		t.Fatalf("CONNECT reply %v: want sid %s back", reply, p.aliceSID)
	}
	if got, _ := messages(t, back); !slices.Equal(got, []string{"during the drain"}) {
		t.Fatalf("replayed %v", got)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("node 1 still draining after its states were taken over")
	}
	t.Logf("drained in %v", time.Since(started))
}

package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"edgeio/hub/internal/redistest"
	"edgeio/server/servertest"

	"github.com/redis/go-redis/v9"
)

func newClusterClient(t testing.TB, addrs []string) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		MaxRetries: 1, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitShardSubscribers waits until a sharded channel has want subscribers on the master
// that owns it.
func waitShardSubscribers(t testing.TB, cc *redis.ClusterClient, channel string, want int64) {
	t.Helper()
	eventually(t, 5*time.Second, "shard subscribers of "+channel, func() bool {
		ctx := context.Background()
		master, err := cc.MasterForKey(ctx, channel)
		if err != nil {
			return false
		}
		n, err := master.PubSubShardNumSub(ctx, channel).Result()
		return err == nil && n[channel] == want
	})
}

// On Redis Cluster, nodes use sharded pub/sub; rooms spread over the shards.
func TestShardedPubSub(t *testing.T) {
	t.Parallel()
	addrs := startRedisCluster(t)
	raw := newClusterClient(t, addrs)
	c1, c2 := newClusterClient(t, addrs), newClusterClient(t, addrs)
	n1 := startNode(t, nodeConfig{id: "n1", client: c1, sharded: true, store: c1})
	n2 := startNode(t, nodeConfig{id: "n2", client: c2, sharded: true, store: c2})
	waitNodes(t, n1, n2)

	alice, bob := n1.connect("alice"), n2.connect("bob")
	rooms := make([]string, 6)
	masters := map[string]bool{}
	for i := range rooms {
		rooms[i] = fmt.Sprint("room-", i)
		join(t, bob, rooms[i])
		join(t, alice, rooms[i])
		m, err := raw.MasterForKey(context.Background(), roomChannelOf(rooms[i]))
		if err != nil {
			t.Fatal(err)
		}
		masters[m.Options().Addr] = true
	}
	if len(masters) < 2 {
		t.Fatalf("rooms %v all on one shard: pick other names", rooms)
	}
	for _, r := range rooms {
		waitShardSubscribers(t, raw, roomChannelOf(r), 2)
	}
	time.Sleep(settle)

	for _, r := range rooms {
		msg := send(t, alice, r, "hello "+r)
		for who, c := range map[string]*servertest.Client{"alice": alice, "bob": bob} {
			if got := c.Event("new-message"); field(got[0], "id") != msg["id"] || field(got[0], "roomId") != r {
				t.Fatalf("%s: new-message %v, want %v", who, got, msg)
			}
		}
	}
	time.Sleep(settle)
	alice.NoEvent("new-message")
	bob.NoEvent("new-message")

	// presence crosses on the sharded control channel
	waitPresence(t, bob, rooms[0], "alice and bob", func(m map[string]string) bool {
		return m["alice"] == "online" && m["bob"] == "online"
	})

	// bob leaves a room: node 2 unsubscribes from it on its shard
	ackOK(t, bob.Call("leave-room", rooms[0]))
	waitShardSubscribers(t, raw, roomChannelOf(rooms[0]), 1)
	before := n2.cl.Stats().Received.Load()
	send(t, alice, rooms[0], "bob is gone")
	time.Sleep(settle)
	if got := n2.cl.Stats().Received.Load(); got != before {
		t.Fatalf("node 2 received %d broadcasts of a room it left", got-before)
	}
	bob.NoEvent("new-message")
}

// A room whose slot moves to another master keeps crossing nodes: Redis drops the shard
// channel's subscribers when the slot leaves, and each node subscribes again on the new
// owner.
func TestShardedSlotMigration(t *testing.T) {
	t.Parallel()
	addrs := startRedisCluster(t)
	raw := newClusterClient(t, addrs)
	c1, c2 := newClusterClient(t, addrs), newClusterClient(t, addrs)
	n1 := startNode(t, nodeConfig{id: "n1", client: c1, sharded: true})
	n2 := startNode(t, nodeConfig{id: "n2", client: c2, sharded: true})
	waitNodes(t, n1, n2)

	alice, bob := n1.connect("alice"), n2.connect("bob")
	const room = "moving-room"
	join(t, bob, room)
	join(t, alice, room)
	channel := roomChannelOf(room)
	waitShardSubscribers(t, raw, channel, 2)
	send(t, alice, room, "before")
	bob.Event("new-message")

	from, err := raw.MasterForKey(context.Background(), channel)
	if err != nil {
		t.Fatal(err)
	}
	to := ""
	for _, a := range addrs {
		if a != from.Options().Addr {
			to = a
			break
		}
	}
	migrateSlot(t, addrs, keySlot(t, raw, channel), from.Options().Addr, to)
	moved := time.Now()
	raw.ReloadState(context.Background())
	waitShardSubscribers(t, raw, channel, 2)
	t.Logf("both nodes subscribed on the new owner %v after the move", time.Since(moved).Round(time.Millisecond))

	for i := range 3 {
		msg := send(t, alice, room, fmt.Sprint("after ", i))
		if got := bob.Event("new-message"); field(got[0], "id") != msg["id"] {
			t.Fatalf("bob got %v, want %v", got, msg)
		}
	}
}

func keySlot(t testing.TB, c *redis.ClusterClient, key string) int {
	t.Helper()
	slot, err := c.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return int(slot)
}

// migrateSlot moves a hash slot and its keys from one master to another, as
// redis-cli --cluster reshard does.
func migrateSlot(t testing.TB, addrs []string, slot int, from, to string) {
	t.Helper()
	ctx := context.Background()
	clients := map[string]*redis.Client{}
	ids := map[string]string{}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		t.Cleanup(func() { _ = c.Close() })
		id, err := c.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatal(err)
		}
		clients[a], ids[a] = c, id
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(clients[to].Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[from]).Err())
	must(clients[from].Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to]).Err())
	host, port, _ := strings.Cut(to, ":")
	for {
		keys, err := clients[from].ClusterGetKeysInSlot(ctx, slot, 100).Result()
		must(err)
		if len(keys) == 0 {
			break
		}
		for _, k := range keys {
			must(clients[from].Migrate(ctx, host, port, k, 0, 5*time.Second).Err())
		}
	}
	for _, a := range append([]string{to, from}, addrs...) {
		must(clients[a].Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", ids[to]).Err())
	}
}

// When a master fails and its replica takes over, Redis says nothing to the subscribers
// (their connection just breaks): each node finds the new master in the cluster's slot map
// and subscribes there.
func TestShardedMasterFailover(t *testing.T) {
	t.Parallel()
	servers, addrs := redistest.StartClusterWithReplicas(t, 1)
	raw := newClusterClient(t, addrs)
	c1, c2 := newClusterClient(t, addrs), newClusterClient(t, addrs)
	n1 := startNode(t, nodeConfig{id: "n1", client: c1, sharded: true})
	n2 := startNode(t, nodeConfig{id: "n2", client: c2, sharded: true})
	waitNodes(t, n1, n2)
	ctx := context.Background()
	masterOf := func(key string) string {
		m, err := raw.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return m.Options().Addr
	}

	// a room on another master than the nodes' control channel, so that only the room's
	// subscriptions have to move
	control := masterOf(n1.cl.controlChannel())
	room := ""
	for i := 0; room == ""; i++ {
		if r := fmt.Sprint("failover-room-", i); masterOf(roomChannelOf(r)) != control {
			room = r
		}
	}
	channel := roomChannelOf(room)
	alice, bob := n1.connect("alice"), n2.connect("bob")
	join(t, bob, room)
	join(t, alice, room)
	waitShardSubscribers(t, raw, channel, 2)
	send(t, alice, room, "before")
	bob.Event("new-message")

	old := masterOf(channel)
	for _, s := range servers {
		if s.Addr() == old {
			s.Stop()
		}
	}
	failed := time.Now()
	eventually(t, 20*time.Second, "a replica to take over "+old, func() bool {
		raw.ReloadState(ctx)
		m, err := raw.MasterForKey(ctx, channel)
		return err == nil && m.Options().Addr != old
	})
	eventually(t, 10*time.Second, "both nodes subscribed on the new master", func() bool {
		m, err := raw.MasterForKey(ctx, channel)
		if err != nil {
			return false
		}
		n, err := m.PubSubShardNumSub(ctx, channel).Result()
		return err == nil && n[channel] == 2
	})
	t.Logf("both nodes subscribed on the new master %v after %s failed", time.Since(failed).Round(time.Millisecond), old)

	for i := range 3 {
		msg := send(t, alice, room, fmt.Sprint("after ", i))
		if got := bob.Event("new-message"); field(got[0], "id") != msg["id"] {
			t.Fatalf("bob got %v, want %v", got, msg)
		}
	}
}

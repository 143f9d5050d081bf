package cluster

import (
	"context"
	"reflect"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server/servertest"

	"github.com/redis/go-redis/v9"
)

// adapterMessage encodes a broadcast as @socket.io/redis-adapter (and redis-emitter) does.
func adapterMessage(t testing.TB, uid string, typ float64, nsp string, data []any, rooms, except []any, flags map[string]any) []byte {
	t.Helper()
	b, err := codec.EncodeMsgpackValue(nil, []any{
		uid,
		map[string]any{"type": typ, "data": data, "nsp": nsp},
		map[string]any{"rooms": rooms, "except": except, "flags": flags},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func publishRaw(t testing.TB, rc *redis.Client, channel string, payload []byte) {
	t.Helper()
	if err := rc.Publish(context.Background(), channel, payload).Err(); err != nil {
		t.Fatal(err)
	}
}

// A message in the Redis adapter's format, published by a foreign emitter, reaches the
// room's clients on every node, and no one else.
func TestForeignEmitterReachesEveryNode(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	alice, carol := p.n1.connect("alice"), p.n1.connect("carol")
	bob, dave := p.n2.connect("bob"), p.n2.connect("dave")
	join(t, alice, "r")
	join(t, bob, "r")
	join(t, carol, "s")
	join(t, dave, "s")
	waitSubscribers(t, p.raw, roomChannelOf("r"), 2)
	waitSubscribers(t, p.raw, roomChannelOf("s"), 2)
	time.Sleep(settle)
	in := []*servertest.Client{alice, bob}
	out := []*servertest.Client{carol, dave}
	everyone := []*servertest.Client{alice, bob, carol, dave}

	// one room, on the room's channel
	publishRaw(t, p.raw, "socket.io#/#r#", adapterMessage(t, "emitter", 2, "/",
		[]any{"hello", 1.0}, []any{"r"}, []any{}, map[string]any{}))
	for _, c := range in {
		if args := c.Event("hello"); !reflect.DeepEqual(args, []any{1.0}) {
			t.Fatalf("hello %v", args)
		}
	}
	for _, c := range out {
		c.NoEvent("hello")
	}

	// several rooms, except one user's personal room, on the namespace channel
	publishRaw(t, p.raw, "socket.io#/#", adapterMessage(t, "emitter", 2, "/",
		[]any{"multi", "x"}, []any{"r", "s"}, []any{"user:dave"}, map[string]any{}))
	for _, c := range []*servertest.Client{alice, bob, carol} {
		if args := c.Event("multi"); !reflect.DeepEqual(args, []any{"x"}) {
			t.Fatalf("multi %v", args)
		}
	}
	dave.NoEvent("multi")

	// the whole namespace, binary
	publishRaw(t, p.raw, "socket.io#/#", adapterMessage(t, "emitter", float64(codec.SBinaryEvent), "/",
		[]any{"all", []byte{1, 2, 3}}, []any{}, []any{}, map[string]any{}))
	for _, c := range everyone {
		if args := c.Event("all"); !reflect.DeepEqual(args, []any{[]byte{1, 2, 3}}) {
			t.Fatalf("all %v", args)
		}
	}

	// volatile is honoured: in-process sessions are never writable at once (no transport
	// waiting), so a volatile broadcast skips them
	publishRaw(t, p.raw, "socket.io#/#", adapterMessage(t, "emitter", 2, "/",
		[]any{"fleeting"}, []any{}, []any{}, map[string]any{"volatile": true}))
	time.Sleep(settle)
	for _, c := range everyone {
		c.NoEvent("fleeting")
	}

	// a message without options goes to the whole namespace too
	short, _ := codec.EncodeMsgpackValue(nil, []any{"emitter", map[string]any{"type": 2.0, "data": []any{"bare"}, "nsp": "/"}})
	publishRaw(t, p.raw, "socket.io#/#", short)
	for _, c := range everyone {
		c.Event("bare")
	}

	// what nodes cannot use is counted or skipped, and delivers nothing
	errs := p.n1.cl.Stats().Errors.Load()
	publishRaw(t, p.raw, "socket.io#/#r#", []byte{0xc1})                   // not msgpack
	publishRaw(t, p.raw, "socket.io#/#r#", []byte{0x91, 0xa1, 'x'})        // too short
	publishRaw(t, p.raw, "socket.io#/#r#", adapterMessage(t, "emitter", 3, // an ack, not an event
		"/", []any{"ack"}, []any{"r"}, []any{}, map[string]any{}))
	publishRaw(t, p.raw, "socket.io#/#r#", adapterMessage(t, "emitter", 2, // no such namespace
		"/nope", []any{"nowhere"}, []any{"r"}, []any{}, map[string]any{}))
	publishRaw(t, p.raw, "socket.io#/#r#", adapterMessage(t, "emitter", 2, // no event name
		"/", []any{42.0}, []any{"r"}, []any{}, map[string]any{}))
	publishRaw(t, p.raw, "socket.io#/#r#", adapterMessage(t, "emitter", 2, // empty data
		"/", []any{}, []any{"r"}, []any{}, map[string]any{}))
	eventually(t, 2*time.Second, "bad broadcasts to be counted", func() bool {
		return p.n1.cl.Stats().Errors.Load() >= errs+2
	})
	// a node's own uid is its echo: skipped
	publishRaw(t, p.raw, "socket.io#/#r#", adapterMessage(t, "n1", 2, "/",
		[]any{"echo"}, []any{"r"}, []any{}, map[string]any{}))
	if args := bob.Event("echo"); len(args) != 0 {
		t.Fatalf("echo %v", args)
	}
	alice.NoEvent("echo")
	for _, c := range in {
		c.NoEvent("ack")
		c.NoEvent("nowhere")
	}
}

// readAdapterMessage waits for the next message on ps and decodes it.
func readAdapterMessage(t testing.TB, ps *redis.PubSub) (string, []any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatalf("no message: %v", err)
	}
	v, err := codec.DecodeMsgpackValue([]byte(m.Payload))
	if err != nil {
		t.Fatalf("%s: %q: %v", m.Channel, m.Payload, err)
	}
	msg, ok := v.([]any)
	if !ok || len(msg) != 3 {
		t.Fatalf("%s: %v is not [uid, packet, opts]", m.Channel, v)
	}
	return m.Channel, msg
}

// What a node publishes decodes to the Redis adapter's message.
func TestPublishedWireFormat(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	alice, bob := p.n1.connect("alice"), p.n2.connect("bob")
	join(t, alice, "r")
	join(t, bob, "r")
	waitSubscribers(t, p.raw, roomChannelOf("r"), 2)
	time.Sleep(settle)

	ps := p.raw.Subscribe(context.Background(), "socket.io#/#r#", "socket.io#/#")
	defer ps.Close()
	if _, err := ps.Receive(context.Background()); err != nil { // the subscription confirmations
		t.Fatal(err)
	}
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}

	msg := send(t, alice, "r", "on the wire")
	ch, got := readAdapterMessage(t, ps)
	if ch != "socket.io#/#r#" || got[0] != "n1" {
		t.Fatalf("%s %v", ch, got)
	}
	packet, _ := got[1].(map[string]any)
	data, _ := packet["data"].([]any)
	if packet["type"] != 2.0 || packet["nsp"] != "/" || len(data) != 2 || data[0] != "new-message" || field(data[1], "id") != msg["id"] {
		t.Fatalf("packet %v", packet)
	}
	if want := map[string]any{"rooms": []any{"r"}, "except": []any{}, "flags": map[string]any{}}; !reflect.DeepEqual(got[2], want) {
		t.Fatalf("options %v, want %v", got[2], want)
	}

	// typing goes to the room except the typist's personal room
	ackOK(t, alice.Call("typing-start", "r"))
	_, got = readAdapterMessage(t, ps)
	if want := map[string]any{"rooms": []any{"r"}, "except": []any{"user:alice"}, "flags": map[string]any{}}; !reflect.DeepEqual(got[2], want) {
		t.Fatalf("options %v, want %v", got[2], want)
	}

	// a broadcast to several rooms, volatile, goes on the namespace channel
	p.n2.cl.Publish("/", []string{"r", "s"}, []string{"x"}, []any{"ev", 1.0, map[string]any{"k": "v"}}, true, "")
	ch, got = readAdapterMessage(t, ps)
	want := []any{"n2",
		map[string]any{"type": 2.0, "data": []any{"ev", 1.0, map[string]any{"k": "v"}}, "nsp": "/"},
		map[string]any{"rooms": []any{"r", "s"}, "except": []any{"x"}, "flags": map[string]any{"volatile": true}},
	}
	if ch != "socket.io#/#" || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %v, want %v", ch, got, want)
	}
	// the same, not volatile, reaches node 1's clients in r (Publish is only the cross-node
	// half of a broadcast: node 2's own clients get nothing from it)
	p.n2.cl.Publish("/", []string{"r", "s"}, []string{"x"}, []any{"ev", 1.0, map[string]any{"k": "v"}}, false, "")
	if _, got = readAdapterMessage(t, ps); field(got[2], "flags") == nil || len(field(got[2], "flags").(map[string]any)) != 0 {
		t.Fatalf("options %v", got[2])
	}
	if args := alice.Event("ev"); !reflect.DeepEqual(args, []any{1.0, map[string]any{"k": "v"}}) {
		t.Fatalf("ev %v", args)
	}
	bob.NoEvent("ev")
}

// A non-default Key prefixes every channel, the control channel too.
func TestCustomKey(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	raw := newClient(t, r.Addr())
	a := New(newServer(t), Options{Client: newClient(t, r.Addr()), Key: "chat", NodeID: "a", Heartbeat: testHeartbeat, Logf: t.Logf})
	b := New(newServer(t), Options{Client: newClient(t, r.Addr()), Key: "chat", NodeID: "b", Heartbeat: testHeartbeat, Logf: t.Logf})
	for _, c := range []*Cluster{a, b} {
		c.Start()
		t.Cleanup(c.Close)
	}
	waitSubscribers(t, raw, "edgeio#chat#nodes", 2)
	waitSubscribers(t, raw, "chat#/#", 2)
	eventually(t, 2*time.Second, "a and b to meet", func() bool {
		an, bn := a.Nodes(), b.Nodes()
		return len(an) == 1 && an[0] == "b" && len(bn) == 1 && bn[0] == "a"
	})
	b.Subscribe("/chat", "")
	b.Subscribe("/chat", "room")
	waitSubscribers(t, raw, "chat#/chat#", 1)
	waitSubscribers(t, raw, "chat#/chat#room#", 1)
}

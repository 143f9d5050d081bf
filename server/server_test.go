package server

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server/servertest"
)

func newTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	io := New(opts)
	t.Cleanup(func() { io.shards.Close() })
	return io
}

func TestConnectGetsSidAndRunsHandlers(t *testing.T) {
	io := newTestServer(t, Options{})
	got := make(chan *Socket, 1)
	io.Of("/").OnConnection(func(s *Socket) { got <- s })
	for _, msgpack := range []bool{false, true} {
		c := servertest.Dial(t, io.Engine(), msgpack)
		p := c.Connect("/", map[string]any{"token": "abc"})
		if p.Type != codec.SConnect || p.Nsp != "/" {
			t.Fatalf("reply = %+v, want CONNECT", p)
		}
		s := <-got
		if sid := p.Data.(map[string]any)["sid"]; sid != s.ID || len(s.ID) != 20 {
			t.Fatalf("sid %v, socket id %q", sid, s.ID)
		}
		if s.Handshake.Auth["token"] != "abc" || s.Handshake.Address != "127.0.0.1" {
			t.Fatalf("handshake = %+v", s.Handshake)
		}
	}
}

func TestConnectErrors(t *testing.T) {
	io := newTestServer(t, Options{})
	io.Of("/private").Use(func(s *Socket) error {
		if s.Handshake.Auth["token"] != "ok" {
			return &ConnectError{Message: "unauthorized", Data: map[string]any{"code": "UNAUTHORIZED"}}
		}
		return nil
	})
	io.Of("/plain").Use(func(*Socket) error { return errors.New("nope") })
	c := servertest.Dial(t, io.Engine(), false)
	cases := []struct {
		nsp  string
		want map[string]any
	}{
		{"/missing", map[string]any{"message": "Invalid namespace"}},
		{"/private", map[string]any{"message": "unauthorized", "data": map[string]any{"code": "UNAUTHORIZED"}}},
		{"/plain", map[string]any{"message": "nope"}},
	}
	for _, tc := range cases {
		p := c.Connect(tc.nsp, nil)
		if p.Type != codec.SConnectError || p.Nsp != tc.nsp || !reflect.DeepEqual(p.Data, tc.want) {
			t.Fatalf("%s: reply %+v, want CONNECT_ERROR %v", tc.nsp, p, tc.want)
		}
	}
	if p := c.Connect("/private", map[string]any{"token": "ok"}); p.Type != codec.SConnect {
		t.Fatalf("good token refused: %+v", p)
	}
}

func TestEventsAndAcksBothWays(t *testing.T) {
	io := newTestServer(t, Options{AckTimeout: 50 * time.Millisecond})
	replies := make(chan []any, 2)
	errs := make(chan error, 2)
	io.Of("/").OnConnection(func(s *Socket) {
		s.On("echo", func(args []any, ack AckFunc) {
			ack(args...)
			ack("twice") // only the first answer goes out
		})
		s.On("ask", func(args []any, _ AckFunc) {
			_ = s.EmitWithAck("question", args, 0, func(reply []any, err error) {
				replies <- reply
				errs <- err
			})
		})
	})
	c := servertest.Dial(t, io.Engine(), false)
	c.Connect("/", nil)
	c.Emit("/", 7, "echo", 1.5, "two", map[string]any{"x": true}, []byte{1, 2})
	p := c.Next()
	want := []any{1.5, "two", map[string]any{"x": true}, []byte{1, 2}}
	if p.Type != codec.SAck || p.ID != 7 || !reflect.DeepEqual(p.Data, want) {
		t.Fatalf("ack = %+v, want ACK 7 %v", p, want)
	}
	c.Quiet()

	c.Emit("/", codec.NoID, "ask", "q1")
	q := c.Next()
	if q.Type != codec.SEvent || q.ID == codec.NoID || !reflect.DeepEqual(q.Data, []any{"question", "q1"}) {
		t.Fatalf("server emit = %+v", q)
	}
	c.Send(&codec.SPacket{Type: codec.SAck, Nsp: "/", ID: q.ID, Data: []any{"answer"}})
	if r, err := <-replies, <-errs; err != nil || !reflect.DeepEqual(r, []any{"answer"}) {
		t.Fatalf("ack callback got %v, %v", r, err)
	}

	c.Emit("/", codec.NoID, "ask", "q2")
	c.Next()
	if _, err := <-replies, <-errs; !errors.Is(err, ErrAckTimeout) {
		t.Fatalf("unanswered ack: err = %v, want timeout", err)
	}
}

func TestRoomsAndBroadcast(t *testing.T) {
	io := newTestServer(t, Options{})
	sockets := make(chan *Socket, 4)
	io.Of("/").OnConnection(func(s *Socket) {
		s.On("join", func(args []any, ack AckFunc) {
			s.Join(args[0].(string))
			ack()
		})
		s.On("shout", func(args []any, _ AckFunc) { _ = s.To(args[0].(string)).Emit("shout", args[1:]...) })
		sockets <- s
	})
	a, b := servertest.Dial(t, io.Engine(), false), servertest.Dial(t, io.Engine(), true)
	outsider := servertest.Dial(t, io.Engine(), false)
	for _, c := range []*servertest.Client{a, b, outsider} {
		c.Connect("/", nil)
	}
	sa, sb, so := <-sockets, <-sockets, <-sockets
	for _, c := range []*servertest.Client{a, b} {
		c.Emit("/", 1, "join", "r1")
		c.Next()
	}
	if rooms := sa.Rooms(); !reflect.DeepEqual(sortStrings(rooms), sortStrings([]string{sa.ID, "r1"})) {
		t.Fatalf("rooms = %v", rooms)
	}

	a.Emit("/", codec.NoID, "shout", "r1", "hello", []byte("bin"))
	p := b.Next()
	if !reflect.DeepEqual(p.Data, []any{"shout", "hello", []byte("bin")}) {
		t.Fatalf("member got %+v", p)
	}
	a.Quiet()
	outsider.Quiet()

	before := encodeCount.Load()
	if err := io.To("r1").Except(sb.ID).Emit("news", 1.0); err != nil {
		t.Fatal(err)
	}
	if p := a.Next(); !reflect.DeepEqual(p.Data, []any{"news", 1.0}) {
		t.Fatalf("a got %+v", p)
	}
	b.Quiet()
	if n := encodeCount.Load() - before; n != 1 {
		t.Fatalf("%d encodes for a broadcast reaching one JSON socket, want 1", n)
	}

	before = encodeCount.Load()
	_ = io.Of("/").Emit("all", "x")
	for _, c := range []*servertest.Client{a, b, outsider} {
		if p := c.Next(); !reflect.DeepEqual(p.Data, []any{"all", "x"}) {
			t.Fatalf("namespace broadcast got %+v", p)
		}
	}
	if n := encodeCount.Load() - before; n != 2 {
		t.Fatalf("%d encodes for a broadcast to JSON and msgpack sockets, want 2", n)
	}

	sa.Leave("r1")
	_ = io.To("r1").Emit("after-leave")
	if p := b.Next(); p.Data.([]any)[0] != "after-leave" {
		t.Fatalf("b got %+v", p)
	}
	a.Quiet()
	if err := so.Emit("disconnect"); !errors.Is(err, ErrReservedEvent) {
		t.Fatalf("reserved event: err = %v", err)
	}
}

func TestVolatileSkipsSessionsThatCannotTakeIt(t *testing.T) {
	io := newTestServer(t, Options{})
	io.Of("/").OnConnection(func(*Socket) {})
	c := servertest.Dial(t, io.Engine(), false)
	c.Connect("/", nil)
	_ = io.To().Volatile().Emit("dropped")
	c.Quiet() // an attached session has no poll waiting: it is not writable
	_ = io.Of("/").Emit("kept")
	if p := c.Next(); p.Data.([]any)[0] != "kept" {
		t.Fatalf("got %+v", p)
	}
}

func TestDisconnects(t *testing.T) {
	io := newTestServer(t, Options{})
	reasons := make(chan string, 4)
	sockets := make(chan *Socket, 4)
	io.Of("/").OnConnection(func(s *Socket) {
		s.OnDisconnect(func(r string) { reasons <- r })
		sockets <- s
	})

	c := servertest.Dial(t, io.Engine(), false)
	c.Connect("/", nil)
	s := <-sockets
	if got := io.Of("/").Sockets(); len(got) != 1 || got[0] != s || io.Of("/").Socket(s.ID) != s {
		t.Fatalf("namespace lists %v, want the one socket", got)
	}
	c.Send(&codec.SPacket{Type: codec.SDisconnect, Nsp: "/", ID: codec.NoID})
	if r := <-reasons; r != ReasonClientDisconnect || s.Connected() {
		t.Fatalf("reason %q, connected %v", r, s.Connected())
	}
	if io.Of("/").Socket(s.ID) != nil || len(io.Of("/").Sockets()) != 0 {
		t.Fatal("a disconnected socket is still listed")
	}

	c.Connect("/", nil)
	s = <-sockets
	s.Disconnect(false)
	if p := c.Next(); p.Type != codec.SDisconnect {
		t.Fatalf("client got %+v, want DISCONNECT", p)
	}
	if r := <-reasons; r != ReasonServerDisconnect {
		t.Fatalf("reason %q", r)
	}

	c.Connect("/", nil)
	<-sockets
	c.Session().Receive(codec.EPacket{Type: codec.EMessage, Data: []byte("2[broken")})
	if r := <-reasons; r != "parse error" {
		t.Fatalf("reason %q, want parse error", r)
	}
	if c.Session().SendMessage([]byte("x"), false) {
		t.Fatal("session still open after a parse error")
	}
}

func TestDynamicNamespaces(t *testing.T) {
	io := newTestServer(t, Options{})
	names := make(chan string, 2)
	io.OfPattern(regexp.MustCompile(`^/team-\d+$`)).OnConnection(func(s *Socket) { names <- s.Namespace.Name })
	c := servertest.Dial(t, io.Engine(), false)
	if p := c.Connect("/team-7", nil); p.Type != codec.SConnect {
		t.Fatalf("reply %+v", p)
	}
	if n := <-names; n != "/team-7" {
		t.Fatalf("namespace %q", n)
	}
	if p := c.Connect("/team-x", nil); p.Type != codec.SConnectError {
		t.Fatalf("reply %+v", p)
	}
}

func TestConnectTimeoutClosesIdleSessions(t *testing.T) {
	io := newTestServer(t, Options{ConnectTimeout: 30 * time.Millisecond})
	c := servertest.Dial(t, io.Engine(), false)
	time.Sleep(100 * time.Millisecond)
	if c.Session().SendMessage([]byte("x"), false) {
		t.Fatal("a session that joined no namespace is still open")
	}
}

// The drain waits for a polling client that connected a namespace to collect its close
// packet, and not for one that never sent CONNECT.
func TestShutdownWaitsOnlyForClientsThatConnected(t *testing.T) {
	io := newTestServer(t, Options{})
	io.Of("/").OnConnection(func(*Socket) {})
	connected := servertest.Dial(t, io.Engine(), false)
	connected.Connect("/", nil)
	servertest.Dial(t, io.Engine(), false) // a handshake, then nothing

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- io.Shutdown(ctx)
	}()
	deadline := time.Now().Add(2 * time.Second)
	for io.Engine().Len() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the drain still holds %d sessions: the idle handshake is waited for", io.Engine().Len())
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the drain ended (%v) before the connected client collected its close packet", err)
	case <-time.After(50 * time.Millisecond):
	}
	connected.Session().Drain() // its last poll
	if err := <-done; err != nil {
		t.Fatalf("drain: %v", err)
	}
}

func TestEngineIOv3ClientJoinsMainNamespace(t *testing.T) {
	io := newTestServer(t, Options{})
	var once sync.Once
	connected := make(chan struct{})
	io.Of("/").OnConnection(func(*Socket) { once.Do(func() { close(connected) }) })
	sess := io.Engine().Attach(3, "127.0.0.1:1")
	<-connected
	pkts := sess.Drain()
	if len(pkts) != 2 || pkts[0].Type != codec.EOpen || string(pkts[1].Data) != "0" {
		t.Fatalf("packets = %+v, want open then 0", pkts)
	}
}

func sortStrings(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

// Broadcasts that queue up in a busy shard reach a socket together, in order, each
// encoded once per parser, with volatile ones still skipped where they cannot go at once.
func TestQueuedBroadcastsReachSocketsInOrder(t *testing.T) {
	io := newTestServer(t, Options{Shards: 1})
	sockets := make(chan *Socket, 2)
	io.Of("/").OnConnection(func(s *Socket) {
		s.Join("r")
		sockets <- s
	})
	a, b := servertest.Dial(t, io.Engine(), false), servertest.Dial(t, io.Engine(), true)
	for _, c := range []*servertest.Client{a, b} {
		c.Connect("/", nil)
	}
	sa := <-sockets
	<-sockets

	release := make(chan struct{})
	sa.shard.Do(func() { <-release }) // the only shard: every broadcast queues behind this
	before := encodeCount.Load()
	for i := range 5 {
		_ = io.To("r").Emit("n", float64(i))
	}
	_ = io.To("r").Volatile().Emit("dropped") // attached sessions have no poll waiting
	_ = io.To("r").Emit("n", 5.0)
	close(release)
	for _, c := range []*servertest.Client{a, b} {
		for i := range 6 {
			if p := c.Next(); !reflect.DeepEqual(p.Data, []any{"n", float64(i)}) {
				t.Fatalf("message %d: got %+v", i, p)
			}
		}
		c.Quiet()
	}
	if n := encodeCount.Load() - before; n != 12 {
		t.Fatalf("%d encodes for 6 broadcasts to a JSON and a msgpack socket, want 12", n)
	}
}

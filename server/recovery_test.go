package server

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"edgeio/server/recovery"
	"edgeio/server/servertest"
)

// A socket whose connection failed comes back with its sid, its rooms and, in order, the
// broadcasts it missed after its last offset; later ones come live, once.
func TestRecoveryRestoresRoomsAndReplaysWhatWasMissed(t *testing.T) {
	io := newTestServer(t, Options{Recovery: RecoveryOptions{Window: time.Minute}})
	connected := make(chan *Socket, 4)
	io.Of("/").OnConnection(func(s *Socket) {
		if !s.Recovered() {
			s.Join("r")
		}
		connected <- s
	})
	c1 := servertest.Dial(t, io.Engine(), false)
	reply := c1.Connect("/", map[string]any{"token": "t", "recovery": true}).Data.(map[string]any)
	first := <-connected
	sid, pid := reply["sid"].(string), reply["pid"].(string)
	if sid != first.ID || pid == "" {
		t.Fatalf("CONNECT reply %v: want the sid and a pid", reply)
	}

	_ = io.To("r").Emit("m", 1.0)
	got := c1.Event("m")
	offset, ok := got[1].(string)
	if !ok || got[0] != 1.0 {
		t.Fatalf("a logged broadcast's args %v: want its offset last", got)
	}
	_ = io.To("r").Emit("m", 2.0) // lost with the connection, say
	c1.Event("m")
	c1.Session().Close("transport close")
	waitSaved(t, io, pid)
	_ = io.To("r").Emit("m", 3.0)     // sent while it was away
	_ = io.To("other").Emit("m", 9.0) // not for it
	_ = io.Of("/").Emit("all", 4.0)   // to the whole namespace

	c2 := servertest.Dial(t, io.Engine(), false)
	back := c2.Connect("/", map[string]any{"token": "t", "pid": pid, "offset": offset}).Data.(map[string]any)
	again := <-connected
	if back["sid"] != sid || back["pid"] != pid || !again.Recovered() || again.ID != sid {
		t.Fatalf("recovery CONNECT reply %v, recovered %v: want the same sid and pid", back, again.Recovered())
	}
	if rooms := again.RestoredRooms(); !reflect.DeepEqual(rooms, []string{"r"}) {
		t.Fatalf("restored rooms %v", rooms)
	}
	for _, want := range []any{2.0, 3.0, 4.0} {
		p := c2.Next()
		args := p.Data.([]any)
		if args[1] != want || len(args) != 3 {
			t.Fatalf("replayed %v, want %v with its offset", args, want)
		}
	}
	c2.Quiet()
	_ = io.To("r").Emit("m", 5.0)
	if args := c2.Event("m"); args[0] != 5.0 {
		t.Fatalf("live after recovery: %v", args)
	}
	c2.Quiet()

	// a pid recovers once; an offset of another process recovers nothing
	c2.Session().Close("transport close")
	waitSaved(t, io, pid)
	c3 := servertest.Dial(t, io.Engine(), false)
	fresh := c3.Connect("/", map[string]any{"pid": pid, "offset": "zzz-1"}).Data.(map[string]any)
	if s := <-connected; s.Recovered() || fresh["sid"] == sid || fresh["pid"] == pid {
		t.Fatalf("an unknown offset recovered: %v", fresh)
	}
	c4 := servertest.Dial(t, io.Engine(), false)
	if s := c4.Connect("/", map[string]any{"pid": pid, "offset": offset}); (<-connected).Recovered() {
		t.Fatalf("a pid recovered twice: %v", s.Data)
	}
}

// Offsets, and the pid to recover with, go only to sockets whose client tracks them: it
// asked in its CONNECT ({recovery: true}) or came back with a pid; a socket that did not
// gets each broadcast with exactly its own arguments, and nothing of it is kept. With
// ForAll every socket gets them, as with Socket.IO's connectionStateRecovery.
func TestOffsetsOnlyForClientsThatAsk(t *testing.T) {
	io := newTestServer(t, Options{Recovery: RecoveryOptions{Window: time.Minute}})
	io.Of("/").OnConnection(func(s *Socket) { s.Join("r") })
	for _, msgpack := range []bool{false, true} {
		plain := servertest.Dial(t, io.Engine(), msgpack)
		if r := plain.Connect("/", map[string]any{"token": "t"}).Data.(map[string]any); r["pid"] != nil {
			t.Fatalf("a client that did not ask got a pid: %v", r)
		}
		asked := servertest.Dial(t, io.Engine(), msgpack)
		pid, _ := asked.Connect("/", map[string]any{"token": "t", "recovery": true}).Data.(map[string]any)["pid"].(string)
		if pid == "" {
			t.Fatal("a client that asked got no pid")
		}
		back := servertest.Dial(t, io.Engine(), msgpack)
		if r := back.Connect("/", map[string]any{"pid": "from-another-process", "offset": "x-1"}).Data.(map[string]any); r["pid"] == nil {
			t.Fatalf("a client that came back with a pid got none: %v", r)
		}
		_ = io.To("r").Emit("m", 1.0, "two")
		if args := plain.Event("m"); len(args) != 2 || args[1] != "two" {
			t.Fatalf("a client that did not ask got %v: want exactly the event's arguments", args)
		}
		for _, c := range []*servertest.Client{asked, back} {
			if args := c.Event("m"); len(args) != 3 || args[1] != "two" || args[2] == "" {
				t.Fatalf("a client that tracks offsets got %v: want the offset last", args)
			}
		}
		kept := io.recovery.Stats().Kept
		plain.Session().Close("transport close")
		asked.Session().Close("transport close")
		waitSaved(t, io, pid)
		time.Sleep(20 * time.Millisecond) // the plain one's, were it kept, comes as soon
		if now := io.recovery.Stats().Kept; now != kept+1 {
			t.Fatalf("%d states kept after two failed connections: want the one of the client that asked", now-kept)
		}
	}

	all := newTestServer(t, Options{Recovery: RecoveryOptions{Window: time.Minute, ForAll: true}})
	all.Of("/").OnConnection(func(s *Socket) { s.Join("r") })
	plain := servertest.Dial(t, all.Engine(), false)
	if r := plain.Connect("/", nil).Data.(map[string]any); r["pid"] == nil {
		t.Fatalf("ForAll: a client that did not ask got no pid: %v", r)
	}
	_ = all.To("r").Emit("m", 1.0)
	if args := plain.Event("m"); len(args) != 2 {
		t.Fatalf("ForAll: args %v, want the offset last", args)
	}
}

// A socket that leaves on purpose (its client disconnects) is not kept; the app's check
// can refuse a recovery; without the window nothing carries offsets or a pid.
func TestRecoveryOnlyForFailedConnectionsTheAppAccepts(t *testing.T) {
	io := newTestServer(t, Options{Recovery: RecoveryOptions{Window: time.Minute}})
	io.Of("/").RecoverAs(func(s *Socket) string { return s.Handshake.Auth["token"].(string) }).
		OnConnection(func(*Socket) {})
	c := servertest.Dial(t, io.Engine(), false)
	pid := c.Connect("/", map[string]any{"token": "alice", "recovery": true}).Data.(map[string]any)["pid"].(string)
	c.Session().Close("ping timeout")
	waitSaved(t, io, pid)
	other := servertest.Dial(t, io.Engine(), false)
	if r := other.Connect("/", map[string]any{"token": "mallory", "pid": pid}).Data.(map[string]any); r["pid"] == pid {
		t.Fatalf("another user took over alice's session: %v", r)
	}

	c = servertest.Dial(t, io.Engine(), false)
	pid = c.Connect("/", map[string]any{"token": "bob", "recovery": true}).Data.(map[string]any)["pid"].(string)
	c.Session().Close(ReasonClientDisconnect)
	time.Sleep(20 * time.Millisecond)
	if io.recovery.(*recovery.Log).Kept(pid) {
		t.Fatal("a socket that disconnected on purpose was kept for recovery")
	}

	off := newTestServer(t, Options{})
	off.Of("/").OnConnection(func(s *Socket) { s.Join("r") })
	plain := servertest.Dial(t, off.Engine(), false)
	if r := plain.Connect("/", nil).Data.(map[string]any); r["pid"] != nil {
		t.Fatalf("recovery off: CONNECT reply %v has a pid", r)
	}
	_ = off.To("r").Emit("m", 1.0)
	if args := plain.Event("m"); len(args) != 1 {
		t.Fatalf("recovery off: args %v carry an offset", args)
	}
}

// Another user presenting a socket's pid (and its offset) gets a fresh socket, and the
// state stays its owner's: the owner recovers after the attempt, with what it missed.
func TestAnotherUsersPidLeavesTheStateToItsOwner(t *testing.T) {
	io := newTestServer(t, Options{Recovery: RecoveryOptions{Window: time.Minute}})
	connected := make(chan *Socket, 4)
	io.Of("/").RecoverAs(func(s *Socket) string { return s.Handshake.Auth["token"].(string) }).
		OnConnection(func(s *Socket) {
			if !s.Recovered() {
				s.Join("r")
			}
			connected <- s
		})
	alice := servertest.Dial(t, io.Engine(), false)
	reply := alice.Connect("/", map[string]any{"token": "alice", "recovery": true}).Data.(map[string]any)
	sid, pid := reply["sid"].(string), reply["pid"].(string)
	<-connected
	_ = io.To("r").Emit("m", 1.0)
	offset := alice.Event("m")[1].(string)
	alice.Session().Close("transport close")
	waitSaved(t, io, pid)
	_ = io.To("r").Emit("m", 2.0) // missed

	for _, auth := range []map[string]any{{"pid": pid, "offset": offset}, {"pid": pid}} {
		auth["token"] = "mallory"
		mallory := servertest.Dial(t, io.Engine(), false)
		r := mallory.Connect("/", auth).Data.(map[string]any)
		if s := <-connected; s.Recovered() || r["sid"] == sid || r["pid"] == pid {
			t.Fatalf("mallory presenting alice's pid got %v", r)
		}
	}

	back := servertest.Dial(t, io.Engine(), false)
	r := back.Connect("/", map[string]any{"token": "alice", "pid": pid, "offset": offset}).Data.(map[string]any)
	if s := <-connected; !s.Recovered() || r["sid"] != sid {
		t.Fatalf("alice after mallory's attempts: %v, recovered %v; want her socket back", r, s.Recovered())
	}
	if args := back.Event("m"); args[0] != 2.0 {
		t.Fatalf("alice's replay %v, want what she missed", args)
	}
}

func waitSaved(t *testing.T, io *Server, pid string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if io.recovery.(*recovery.Log).Kept(pid) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the disconnected socket's state was not saved")
		}
		time.Sleep(time.Millisecond)
	}
}

// The journal carries the log and the sockets across a restart: after a graceful shutdown,
// and after a crash (the next process reads the journal as the dead one left it), a socket
// recovers on the next process with what it missed from either process, in order, and
// offsets go on from the previous process.
func TestRecoverySurvivesARestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := map[bool]string{false: "graceful", true: "crash"}[crash]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "recovery.journal")
			opts := Options{Recovery: RecoveryOptions{Window: time.Minute, Journal: path}}
			first := newTestServer(t, opts)
			first.Of("/").RecoverAs(func(s *Socket) string { return "alice" }).OnConnection(func(s *Socket) { s.Join("r") })
			c := servertest.Dial(t, first.Engine(), false)
			pid := c.Connect("/", map[string]any{"recovery": true}).Data.(map[string]any)["pid"].(string)
			_ = first.To("r").Emit("m", 1.0, map[string]any{"blob": []byte{1, 2}})
			offset := c.Event("m")[2].(string)
			_ = first.To("r").Emit("m", 2.0) // not read before the restart
			_ = first.To("elsewhere").Emit("m", 9.0)
			c.Event("m")
			nextOpts := opts
			if crash {
				// what a SIGKILL leaves: the journal as written so far, the socket never closed
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				nextOpts.Recovery.Journal = filepath.Join(t.TempDir(), "recovery.journal")
				if err := os.WriteFile(nextOpts.Recovery.Journal, b, 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- first.Shutdown(ctx) }()
				for waiting := true; waiting; {
					select {
					case err := <-done:
						if err != nil {
							t.Fatalf("shutdown: %v", err)
						}
						waiting = false
					case <-time.After(5 * time.Millisecond):
						c.Session().Drain() // the client collects its last packets, as a poll would
					}
				}
			}

			next := newTestServer(t, nextOpts)
			recovered := make(chan bool, 1)
			next.Of("/").RecoverAs(func(s *Socket) string { return "alice" }).OnConnection(func(s *Socket) { recovered <- s.Recovered() })
			_ = next.To("r").Emit("m", 3.0) // sent by the next process before the client is back
			c2 := servertest.Dial(t, next.Engine(), false)
			back := c2.Connect("/", map[string]any{"pid": pid, "offset": offset}).Data.(map[string]any)
			if !<-recovered || back["pid"] != pid {
				t.Fatalf("not recovered on the next process: %v", back)
			}
			var offsets []string
			for _, want := range []float64{2, 3} {
				args := c2.Event("m")
				if args[0] != want {
					t.Fatalf("replayed %v, want %v", args, want)
				}
				offsets = append(offsets, args[len(args)-1].(string))
			}
			if offsets[0] >= offsets[1] && len(offsets[0]) == len(offsets[1]) {
				t.Fatalf("offsets %v do not go on from the previous process", offsets)
			}
			c2.Quiet()
		})
	}
}

// The journal stays about the size of what it describes (it is rewritten as it grows), and
// a last record cut short by the crash costs nothing before it.
func TestRecoveryJournalIsRewrittenAndSurvivesATornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recovery.journal")
	opts := Options{Recovery: RecoveryOptions{Window: time.Minute, MaxPackets: 10, Journal: path}}
	first := newTestServer(t, opts)
	first.Of("/").OnConnection(func(s *Socket) { s.Join("r") })
	c := servertest.Dial(t, first.Engine(), false)
	pid := c.Connect("/", map[string]any{"recovery": true}).Data.(map[string]any)["pid"].(string)
	for i := range 3000 {
		_ = first.To("r").Emit("m", float64(i))
	}
	var offset string
	for offset == "" {
		if args := c.Event("m"); args[0] == 2995.0 {
			offset = args[1].(string)
		}
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// 3,000 broadcasts of about 60 bytes each: without rewrites, 180 KB
	if info.Size() > 100_000 {
		t.Fatalf("journal of %d bytes for 10 broadcasts and a socket", info.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(t.TempDir(), "recovery.journal")
	if err := os.WriteFile(torn, append(b, 40, 0x8b, 0xa1, 'k'), 0o600); err != nil { // a record begun, not ended
		t.Fatal(err)
	}
	next := newTestServer(t, Options{Recovery: RecoveryOptions{Window: time.Minute, MaxPackets: 10, Journal: torn}})
	recovered := make(chan bool, 1)
	next.Of("/").OnConnection(func(s *Socket) { recovered <- s.Recovered() })
	c2 := servertest.Dial(t, next.Engine(), false)
	c2.Connect("/", map[string]any{"pid": pid, "offset": offset})
	if !<-recovered {
		t.Fatal("not recovered from a journal with a torn tail")
	}
	for _, want := range []float64{2996, 2997, 2998, 2999} {
		if args := c2.Event("m"); args[0] != want {
			t.Fatalf("replayed %v, want %v", args, want)
		}
	}
}

// BenchmarkLoggedBroadcast is what the recovery log costs a broadcast (to a room with no
// member here): kept in memory, and also written to the journal.
func BenchmarkLoggedBroadcast(b *testing.B) {
	payload := map[string]any{"id": "0000000000001", "roomId": "room", "userId": "alice", "username": "Alice",
		"content": "hello, everyone in the room", "createdAt": "2026-11-26T16:40:00.123Z"}
	for _, journal := range []bool{false, true} {
		b.Run(map[bool]string{false: "memory", true: "journal"}[journal], func(b *testing.B) {
			opts := Options{Recovery: RecoveryOptions{Window: time.Minute}}
			if journal {
				opts.Recovery.Journal = filepath.Join(b.TempDir(), "recovery.journal")
			}
			io := New(opts)
			defer io.shards.Close()
			b.ReportAllocs()
			for range b.N {
				_ = io.To("room").Emit("new-message", payload)
			}
		})
	}
}

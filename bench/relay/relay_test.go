package relay

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

type client struct {
	gws.BuiltinEventHandler
	mu   sync.Mutex
	got  []string
	conn *gws.Conn
}

func (c *client) OnMessage(_ *gws.Conn, m *gws.Message) {
	c.mu.Lock()
	c.got = append(c.got, m.Data.String())
	c.mu.Unlock()
	m.Close()
}

func (c *client) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func dial(t *testing.T, addr, room string) *client {
	t.Helper()
	c := &client{}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: "ws://" + addr + Path + "?room=" + room})
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() { _ = conn.NetConn().Close() })
	return c
}

// A message reaches every connection of its room, the sender's included, and no other;
// a connection that leaves gets nothing more.
func TestRelayToRoom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	go func() { _ = r.Serve(ln) }()
	t.Cleanup(func() { _ = ln.Close() })
	addr := ln.Addr().String()
	a1, a2, b := dial(t, addr, "a"), dial(t, addr, "a"), dial(t, addr, "b")
	gone := dial(t, addr, "a")
	_ = gone.conn.WriteClose(1000, nil)
	time.Sleep(50 * time.Millisecond) // the close is read, the room forgets it

	if err := a1.conn.WriteString("hello a"); err != nil {
		t.Fatal(err)
	}
	if err := b.conn.WriteString("hello b"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(a1.messages()) < 1 || len(a2.messages()) < 1 || len(b.messages()) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("a1 %v, a2 %v, b %v", a1.messages(), a2.messages(), b.messages())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	for name, c := range map[string]*client{"a1": a1, "a2": a2} {
		if got := c.messages(); len(got) != 1 || got[0] != "hello a" {
			t.Errorf("%s got %v, want [hello a]", name, got)
		}
	}
	if got := b.messages(); len(got) != 1 || got[0] != "hello b" {
		t.Errorf("b got %v, want [hello b]", got)
	}
	if got := gone.messages(); len(got) != 0 {
		t.Errorf("a closed connection got %v", got)
	}
	r.mu.RLock()
	n := len(r.rooms["a"])
	r.mu.RUnlock()
	if n != 2 {
		t.Errorf("room a has %d members, want 2", n)
	}
}

func TestRelayRefusesAConnectionWithoutRoom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = New().Serve(ln) }()
	t.Cleanup(func() { _ = ln.Close() })
	_, resp, err := gws.NewClient(gws.BuiltinEventHandler{}, &gws.ClientOption{Addr: "ws://" + ln.Addr().String() + Path})
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("no room: err %v, response %v", err, resp)
	}
}

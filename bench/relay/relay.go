// Package relay is the floor edgeio's performance is measured against: a WebSocket relay
// with no Engine.IO, Socket.IO or chat logic (`edgeio serve --app relay`). A connection
// joins the room its URL names (/relay?room=NAME) and every message it sends goes, as it
// came, to every connection of that room, its own included. It uses gws the way a plain
// application of it would: net/http for the upgrade, one read loop per connection, a room
// registry behind a lock, and gws's Broadcaster, which frames a message once for all.
//
// The bench harness speaks to it with --protocol relay: the same connections, rooms,
// message rate and payload size as a chat run, so that what edgeio costs beyond moving
// the bytes can be read off the two runs.
package relay

import (
	"bytes"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// Path is where the relay upgrades connections.
const Path = "/relay"

// Relay holds the rooms. Its zero value is not usable; New makes one.
type Relay struct {
	upgrader *gws.Upgrader

	mu    sync.RWMutex
	rooms map[string]map[*gws.Conn]struct{}
}

// New makes a relay.
func New() *Relay {
	r := &Relay{rooms: make(map[string]map[*gws.Conn]struct{})}
	r.upgrader = gws.NewUpgrader(r, &gws.ServerOption{
		ParallelEnabled: false, // one message at a time per connection, in order
		Recovery:        gws.Recovery,
	})
	return r
}

// Serve accepts connections on ln until it fails.
func (r *Relay) Serve(ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc(Path, r.upgrade)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

func (r *Relay) upgrade(w http.ResponseWriter, req *http.Request) {
	room := req.URL.Query().Get("room")
	if room == "" {
		http.Error(w, "room: required", http.StatusBadRequest)
		return
	}
	conn, err := r.upgrader.Upgrade(w, req)
	if err != nil {
		return
	}
	conn.Session().Store("room", room)
	r.join(room, conn)
	go conn.ReadLoop()
}

func (r *Relay) join(room string, c *gws.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	members := r.rooms[room]
	if members == nil {
		members = make(map[*gws.Conn]struct{})
		r.rooms[room] = members
	}
	members[c] = struct{}{}
}

func roomOf(c *gws.Conn) string {
	v, _ := c.Session().Load("room")
	room, _ := v.(string)
	return room
}

// OnOpen is gws's event: nothing to do, the connection joined its room at the upgrade.
func (r *Relay) OnOpen(*gws.Conn) {}

// OnClose takes the connection out of its room.
func (r *Relay) OnClose(c *gws.Conn, _ error) {
	room := roomOf(c)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.rooms[room], c)
	if len(r.rooms[room]) == 0 {
		delete(r.rooms, room)
	}
}

// OnPing answers a ping.
func (r *Relay) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

// OnPong is gws's event: the relay sends no pings.
func (r *Relay) OnPong(*gws.Conn, []byte) {}

// OnMessage sends the message to every member of the sender's room. The payload is
// copied: the writes outlive the message, whose buffer goes back to gws's pool.
func (r *Relay) OnMessage(c *gws.Conn, m *gws.Message) {
	b := gws.NewBroadcaster(m.Opcode, bytes.Clone(m.Bytes()))
	m.Close()
	defer b.Close()
	r.mu.RLock()
	defer r.mu.RUnlock()
	for member := range r.rooms[roomOf(c)] {
		_ = b.Broadcast(member)
	}
}

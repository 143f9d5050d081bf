package hub

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"edgeio/codec"
)

// peersRecorder is a Cluster that keeps what the hub tells the other nodes.
type peersRecorder struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (p *peersRecorder) Subscribe(string, string) func() { return noWait }
func (p *peersRecorder) Unsubscribe(string, string)      {}
func (p *peersRecorder) Hold(string, []string) func()    { return noWait }
func (p *peersRecorder) Release(string, []string)        {}
func (p *peersRecorder) SendPeers(msg []byte) {
	v, _ := codec.DecodeMsgpackValue(msg)
	p.mu.Lock()
	p.msgs = append(p.msgs, v.(map[string]any))
	p.mu.Unlock()
}

// latest is each user's last view sent, and how many messages carried them.
func (p *peersRecorder) latest() (map[string]map[string]any, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	views := map[string]map[string]any{}
	for _, m := range p.msgs {
		for _, u := range m["users"].([]any) {
			view := u.(map[string]any)
			views[view["id"].(string)] = view
		}
	}
	return views, len(p.msgs)
}

// A connect storm's changes reach the other nodes together, each user's latest view, in
// far fewer messages than changes; a change after a quiet spell goes out at once.
func TestPeerViewsCoalesce(t *testing.T) {
	f := newFixture(t, Options{})
	rec := &peersRecorder{}
	f.hub.AttachCluster(rec)
	const users = 40
	last := f.connect("u0", false)
	ok(t, last.Call("join-room", "lobby"))
	for i := 1; i < users; i++ {
		c := f.connect(fmt.Sprint("u", i), false)
		ok(t, c.Call("join-room", "lobby"))
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		views, _ := rec.latest()
		if len(views) == users || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	views, sent := rec.latest()
	for i := range users {
		v := views[fmt.Sprint("u", i)]
		if rooms, _ := v["rooms"].([]any); v["on"] != true || len(rooms) != 1 || rooms[0] != "lobby" {
			t.Fatalf("u%d's last view told: %v", i, v)
		}
	}
	t.Logf("%d changes (a connect and a join each) told in %d messages", 2*users, sent)
	if sent >= users {
		t.Fatalf("%d changes took %d messages", 2*users, sent)
	}

	time.Sleep(3 * peerShareEvery)
	ok(t, last.Call("update-presence", "away"))
	if views, _ := rec.latest(); views["u0"]["status"] != "away" {
		t.Fatalf("a change after a quiet spell was not told at once: %v", views["u0"])
	}
}

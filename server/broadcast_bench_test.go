package server

import (
	"testing"
	"time"

	"edgeio/codec"
	"edgeio/server/engine"
)

// BenchmarkBroadcast10k sends one event to a room of 10,000 in-process sockets, half of
// them on each parser: the event must be encoded once per parser (and, with recovery, once
// per parser with its offset), not once per socket. Recovery variants: off; on, with no
// client asking for offsets; half of them asking; every socket getting them (the server's
// --recovery-offsets all).
func BenchmarkBroadcast10k(b *testing.B) {
	recovery := RecoveryOptions{Window: time.Minute}
	all := recovery
	all.ForAll = true
	for _, v := range []struct {
		name  string
		opts  Options
		asks  func(i int) bool // whether socket i asks for offsets in its CONNECT
		wants int              // encodes a broadcast takes
	}{
		{"recovery-off", Options{}, never, 2},
		{"recovery-none-asked", Options{Recovery: recovery}, never, 2},
		{"recovery-half-asked", Options{Recovery: recovery}, func(i int) bool { return i%4 < 2 }, 4},
		{"recovery-all", Options{Recovery: all}, never, 2},
	} {
		b.Run(v.name, func(b *testing.B) {
			if got := benchBroadcast10k(b, v.opts, v.asks); got != float64(v.wants) {
				b.Fatalf("%v encodes a broadcast, want %d", got, v.wants)
			}
		})
	}
}

func never(int) bool { return false }

func benchBroadcast10k(b *testing.B, opts Options, asks func(i int) bool) (encodes float64) {
	io := New(opts)
	defer io.shards.Close()
	joined := make(chan struct{}, 10_000)
	io.Of("/").OnConnection(func(s *Socket) {
		s.Join("room")
		joined <- struct{}{}
	})
	sessions := make([]*engine.Session, 10_000)
	for i := range sessions {
		sess := io.Engine().Attach(4, "127.0.0.1:1")
		sessions[i] = sess
		sess.Drain()
		connect := &codec.SPacket{Type: codec.SConnect, Nsp: "/", ID: codec.NoID}
		if asks(i) {
			connect.Data = map[string]any{"recovery": true}
		}
		if i%2 == 0 {
			text, _, _ := codec.EncodeJSON(nil, connect)
			sess.Receive(codec.EPacket{Type: codec.EMessage, Data: text})
		} else {
			bin, _ := codec.EncodeMsgpack(nil, connect)
			sess.Receive(codec.EPacket{Type: codec.EMessage, Data: bin, Binary: true})
		}
		<-joined
	}
	payload := map[string]any{"id": "0000000000001", "roomId": "room", "userId": "alice", "username": "Alice",
		"content": "hello, everyone in the room", "createdAt": "2026-11-26T16:40:00.123Z"}
	for _, s := range sessions {
		s.Drain()
	}
	b.ReportAllocs()
	b.ResetTimer()
	before := encodeCount.Load()
	for range b.N {
		done := make(chan struct{})
		f := io.To("room")
		_ = f.Emit("new-message", payload)
		// the shards deliver in order: a no-op on each marks this broadcast done
		for _, sh := range io.shards.All() {
			sh.Do(func() { done <- struct{}{} })
		}
		for range io.shards.Len() {
			<-done
		}
		b.StopTimer()
		for _, s := range sessions {
			s.Drain()
		}
		b.StartTimer()
	}
	encodes = float64(encodeCount.Load()-before) / float64(b.N)
	b.ReportMetric(encodes, "encodes/op")
	b.ReportMetric(10_000, "recipients/op")
	return encodes
}

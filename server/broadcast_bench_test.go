package server

import (
	"testing"

	"edgeio/codec"
	"edgeio/server/engine"
)

// BenchmarkBroadcast10k sends one event to a room of 10,000 in-process sockets, half of
// them on each parser: the event must be encoded once per parser, not once per socket.
func BenchmarkBroadcast10k(b *testing.B) {
	io := New(Options{})
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
	b.ReportMetric(float64(encodeCount.Load()-before)/float64(b.N), "encodes/op")
	b.ReportMetric(10_000, "recipients/op")
}

// Package server is edgeio's Socket.IO v5 front end: it serves the protocol over the
// Engine.IO sessions of package engine, on fasthttp, and gives applications an API that
// reads like Socket.IO's own:
//
//	io := server.New(server.Options{})
//	io.Of("/chat").Use(authenticate)
//	io.Of("/chat").OnConnection(func(s *server.Socket) {
//		s.On("hello", func(args []any, ack server.AckFunc) { s.To("room").Emit("hi", args...) })
//	})
//
// Each connection speaks the parser it spoke first (JSON or msgpack). Room membership lives
// in package shard; a broadcast is encoded once per parser and handed to every shard.
// Event handlers of one socket run one at a time, in the order the packets arrived.
//
// Around that: connection state recovery as Socket.IO 4.6+ does it (recovery.go, the seam
// to package recovery, which keeps the log, the states, the journal and the takeovers
// across nodes), backpressure for clients that read too slowly (backpressure.go), the
// drain of Shutdown, and the admin listener with its metrics, profiles and dashboard
// (admin.go, metrics.go, dashboard.go).
package server

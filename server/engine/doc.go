// Package engine is the Engine.IO layer of edgeio: the handshake, HTTP long-polling, WebSocket
// (through gws, hijacked from fasthttp on the same port), the upgrade from polling to
// WebSocket, heartbeats, and one Session per client that carries Engine.IO messages both ways.
//
// A Server is an http handler for one path. Every method of Session is safe for concurrent
// use; a session's Handler is called from one goroutine at a time (the connection's reader).
package engine

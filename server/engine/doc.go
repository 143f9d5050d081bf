// Package engine is the Engine.IO layer of edgeio: the handshake, HTTP long-polling, WebSocket
// (hijacked from fasthttp on the same port), the upgrade from polling to WebSocket,
// heartbeats, and one Session per client that carries Engine.IO messages both ways.
//
// gws answers a WebSocket upgrade; from then on the frames are edgeio's (wsconn.go): the
// epoll loops of server/poll read every connection into a shared buffer, codec.WSDecoder
// keeps only unfinished frames, and a connection's messages are handled on a goroutine
// that exists only while it has some. An idle connection holds no goroutine and no buffer.
// Frames are built once per broadcast (frames.go) and written straight to the socket by
// the sender when the kernel takes them, by a flush goroutine (one writev) when not.
//
// In a cluster, a request for a session that another node holds is forwarded to that node
// (forward.go), so that a load balancer needs no sticky sessions: polls and POSTs over
// connections kept between the nodes, an upgrade as a pipe between the client's connection
// and one to the node, which the same epoll loops read.
//
// A Server is an http handler for one path. Every method of Session is safe for concurrent
// use; a session's Handler is called from one goroutine at a time, in the order the client
// sent.
package engine

// Package poll reads many sockets with a few epoll loops instead of a goroutine per
// socket: an idle connection then costs no goroutine stack and no read buffer. The server
// reads its WebSocket connections with it, and the bench harness its client connections.
//
// A Reader is called on the loop's goroutine when its socket is readable, with the loop's
// buffer; it reads once (ReadOnce), handles what it got without blocking, and returns. The
// loops are level-triggered: a socket that still holds data is reported again. Elsewhere
// than on Linux, For returns nil and callers fall back to a goroutine per connection.
package poll

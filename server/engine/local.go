package engine

import (
	"edgeio/codec"
	"edgeio/server/security"
)

// Attach opens a session that no HTTP request carries: what the server sends queues until
// Drain takes it, and Receive feeds packets in as if they came over a transport. In-process
// clients use it: tests, and benchmarks that need more sessions than a process has files.
func (s *Server) Attach(protocol int, remoteAddr string) *Session {
	ip := security.ClientIP(remoteAddr, nil, nil)
	sess := newSession(s, protocol, &Request{RemoteAddr: remoteAddr, ClientIP: ip}, TransportPolling)
	s.open(sess, nil)
	return sess
}

// Drain takes every packet queued for a polling (or attached) session. A closed session
// that lingered for its last packets is gone once they are taken, as after its last poll.
func (s *Session) Drain() []codec.EPacket {
	s.mu.Lock()
	pkts := s.queue
	s.queue = nil
	s.buffered.Store(0) // all of it was the queue's: an attached session has no WebSocket
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.srv.remove(s)
	}
	return pkts
}

// Receive handles p as if it had arrived on the session's transport.
func (s *Session) Receive(p codec.EPacket) { s.onPacket(p) }

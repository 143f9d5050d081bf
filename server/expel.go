package server

import (
	"edgeio/codec"
	"edgeio/server/engine"
)

// DisconnectWhere ends the connections whose session matches, telling their sockets why
// first: each gets notice (an event of the application's; nothing when notice is nil) and
// a DISCONNECT, so that a stock client learns why and does not reconnect by itself ("io
// server disconnect"). The connections then close with reason, which the sockets'
// disconnect handlers and the metrics get. It returns how many connections it closed.
func (s *Server) DisconnectWhere(match func(*engine.Session) bool, reason string, notice func(*Socket)) int {
	hit := s.engine.SessionsWhere(match)
	for _, sess := range hit {
		if c, ok := sess.Handler().(*client); ok {
			for _, sock := range c.connectedSockets() {
				if notice != nil {
					notice(sock)
				}
				_ = sock.send(&codec.SPacket{Type: codec.SDisconnect, Nsp: sock.Namespace.Name, ID: codec.NoID})
			}
		}
		sess.Close(reason)
	}
	return len(hit)
}

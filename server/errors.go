package server

import "errors"

// Errors of the socket API.
var (
	ErrReservedEvent = errors.New("server: reserved event name")
	ErrDisconnected  = errors.New("server: socket disconnected")
	ErrAckTimeout    = errors.New("server: ack timed out")
)

var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true,
}

func isReserved(event string) bool { return reservedEvents[event] }

// Disconnect reasons, as Socket.IO names them, given to OnDisconnect handlers.
const (
	ReasonClientDisconnect = "client namespace disconnect"
	ReasonServerDisconnect = "server namespace disconnect"
	ReasonForcedClose      = "forced server close"
)

// Package recovery keeps what connection state recovery needs, as Socket.IO 4.6+ does it
// and stock socket.io-client 4.x expects: a log of recent room broadcasts, each with an
// offset, and the states (sid, rooms, where it stopped) of sockets whose connection failed.
// A client that comes back within the window with its private session id (pid) and last
// offset takes its state over: the same sid, its rooms and every logged broadcast it
// missed, in order.
//
// The server calls it at three points: it logs a room broadcast (Log), it keeps a failed
// socket's state (Keep), and it restores one for a socket that connects (Restore); the
// rest is bookkeeping around those. Inside: the log and the states in memory (log.go,
// members.go), the journal that carries them across a restart (journal.go), and the
// takeover of a state kept by another node of a cluster (handover.go, through Peers).
//
// Rooms are the server's room keys throughout: opaque strings here. Broadcasts are kept as
// their event and arguments (the trees of package codec), not encoded: the server encodes
// what it replays.
//
// All methods of Log are safe for concurrent use. Its lock orders broadcasts against
// restoring sockets: Log calls send, and Restore calls attach, under it.
package recovery

package engine

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// Stats counts what an engine does, for the admin listener's metrics. Safe for concurrent use.
type Stats struct {
	Opened     atomic.Uint64 // sessions opened
	Upgrades   atomic.Uint64 // polling sessions moved to WebSocket
	MessagesIn atomic.Uint64
	BytesIn    atomic.Uint64
	PacketsOut atomic.Uint64 // Engine.IO packets queued for clients
	BytesOut   atomic.Uint64
	Untold     atomic.Uint64 // refusals answered with a bare HTTP status: the refusal backlog was full
	Forwards   ForwardStats  // requests forwarded to the other nodes of a cluster (forward.go)

	mu     sync.Mutex
	closes map[string]uint64
}

func (st *Stats) closed(reason string) {
	st.mu.Lock()
	if st.closes == nil {
		st.closes = make(map[string]uint64)
	}
	st.closes[reason]++
	st.mu.Unlock()
}

// Closes returns the number of sessions closed, by reason.
func (st *Stats) Closes() map[string]uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]uint64, len(st.closes))
	for k, v := range st.closes {
		out[k] = v
	}
	return out
}

// Transports counts the open sessions by transport; a closed one that waits for its last
// poll is no longer counted.
func (s *Server) Transports() (polling, websocket int) {
	s.mu.Lock()
	all := slices.Collect(maps.Values(s.sessions))
	s.mu.Unlock()
	for _, sess := range all {
		sess.mu.Lock()
		closed, transport := sess.closed, sess.transport
		sess.mu.Unlock()
		switch {
		case closed:
		case transport == TransportWebSocket:
			websocket++
		default:
			polling++
		}
	}
	return polling, websocket
}

package server

import (
	"edgeio/codec"
	"edgeio/server/engine"
)

// Backpressure: a client that reads slower than it is sent to first stops getting what
// can be lost (the events a namespace sheds, such as typing and presence), once half of
// --max-buffered or --max-queued waits for it; past either limit it is cut off as a slow
// consumer, told why by the namespace's notice if it still reads.

// ShedWhenCongested names events that congested clients of the namespace do not get.
func (n *Namespace) ShedWhenCongested(events ...string) *Namespace {
	m := make(map[string]bool, len(events))
	for _, e := range events {
		m[e] = true
	}
	n.shed.Store(&m)
	return n
}

// OnSlowConsumer sets the event a socket of the namespace gets when its connection is cut
// off for not reading, in place of what was queued for it.
func (n *Namespace) OnSlowConsumer(event string, args ...any) *Namespace {
	data := eventData(event, args)
	n.notice.Store(&data)
	return n
}

func (n *Namespace) sheds(event string) bool {
	m := n.shed.Load()
	return m != nil && (*m)[event]
}

// shedding reports whether the socket's client is too congested for f, counting it then.
func (s *Socket) shedding(f *outFrame) bool {
	if !s.sess.Congested() {
		return false
	}
	event, _ := f.pkt.Data.([]any)[0].(string)
	s.client.srv.metrics.shed.WithLabelValues(event).Inc()
	return true
}

// Farewell is each connected socket's slow-consumer notice (engine.Farewell).
func (c *client) Farewell(reason string) []codec.EPacket {
	if reason != engine.ReasonSlowConsumer {
		return nil
	}
	var out []codec.EPacket
	for _, s := range c.connectedSockets() {
		notice := s.Namespace.notice.Load()
		if notice == nil {
			continue
		}
		pkts, err := c.encode(&codec.SPacket{Type: codec.SEvent, Nsp: s.Namespace.Name, ID: codec.NoID, Data: *notice})
		if err == nil {
			out = append(out, pkts...)
		}
	}
	return out
}

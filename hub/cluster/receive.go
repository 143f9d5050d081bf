package cluster

import (
	"bytes"
	"math/rand/v2"

	"edgeio/codec"
)

func jitter(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return rand.Int64N(n)
}

// receiveLoop hands each message from Redis to the local sockets (broadcasts) or to the
// peer logic (control channel).
func (c *Cluster) receiveLoop() {
	defer c.stopped.Done()
	control := c.controlChannel()
	msgs := c.subs.messages()
	for {
		select {
		case <-c.stop:
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			switch {
			case m.channel == control:
				c.onControl(m.payload)
			case c.patterned(m.channel) && !c.wanted(m.channel):
				// a pattern room with no member here: dropped unread
			default:
				c.onBroadcast(m.payload)
			}
		}
	}
}

// wanted reports whether this node counts members (or kept sockets) of channel's room.
func (c *Cluster) wanted(channel string) bool {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	return c.refs[channel] > 0
}

// onBroadcast delivers a broadcast from another node (or a Node emitter or adapter) to the
// local sockets, once, without passing it on.
func (c *Cluster) onBroadcast(payload []byte) {
	if bytes.HasPrefix(payload, c.echo) {
		return // our own, already delivered here: not worth decoding
	}
	v, err := codec.DecodeMsgpackValue(payload)
	msg, _ := v.([]any)
	if err != nil || len(msg) < 2 {
		c.stats.Errors.Add(1)
		return
	}
	if uid, _ := msg[0].(string); uid == c.opts.NodeID {
		return // our own, already delivered here
	}
	c.stats.Received.Add(1)
	packet, _ := msg[1].(map[string]any)
	typ, _ := packet["type"].(float64)
	data, _ := packet["data"].([]any)
	nspName, _ := packet["nsp"].(string)
	if (typ != float64(codec.SEvent) && typ != float64(codec.SBinaryEvent)) || len(data) == 0 {
		return
	}
	event, ok := data[0].(string)
	nsp := c.io.Lookup(nspName)
	if !ok || nsp == nil {
		return
	}
	var opts map[string]any
	if len(msg) > 2 {
		opts, _ = msg[2].(map[string]any)
	}
	op := nsp.To(stringList(opts["rooms"])...).Except(stringList(opts["except"])...).Local()
	if flags, _ := opts["flags"].(map[string]any); flags["volatile"] == true {
		op = op.Volatile()
	}
	if id, _ := opts["id"].(string); id != "" {
		op = op.From(id)
	}
	_ = op.Emit(event, data[1:]...)
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, item := range list {
		if s, ok := item.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

package bench

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"edgeio/codec"
)

// transport carries one connection's Engine.IO packets. write takes a packet as built by
// encodeEvent: JSON text with its Engine.IO type in front, or a bare msgpack packet
// (binary), and may be called from any goroutine; it copies b before returning.
type transport interface {
	write(b []byte, binary bool) error
	pong()
	close()
}

// Connection states.
const (
	stConnecting int32 = iota
	stOpen
	stDead
)

// Ack ids: send-message acks carry sendAckBit and the send's sequence number; control
// events (join-room, update-presence) count up from 1 below it.
const (
	sendAckBit = 1 << 30
	seqMask    = sendAckBit - 1
	ackRing    = 16 // sends remembered per connection, for ack latency
)

// Control acks a connection waits for.
const (
	ctrlJoin byte = iota + 1
	ctrlPresence
)

var errConnClosed = errors.New("bench: connection closed")

// conn is one Socket.IO client connection, user bench-<idx>, member of one room.
type conn struct {
	r     *run
	idx   int
	room  int
	user  string
	shard int
	tr    transport // set before the first packet can arrive

	connectPkt []byte
	start      int64      // dial start, ns since the run's base
	ready      chan error // the CONNECT outcome, once
	state      atomic.Int32
	joined     atomic.Bool
	closing    atomic.Bool

	wmu  sync.Mutex // the send buffer and sequence
	wbuf []byte
	seq  uint32

	amu     sync.Mutex // ack bookkeeping; never held across I/O
	sent    [ackRing]sentRec
	ctrl    map[uint32]ctrlWait
	ctrlSeq uint32

	dec    codec.JSONDecoder // reader goroutine only
	status string            // presence prober only
}

type sentRec struct {
	seq uint32
	ts  int64
}

type ctrlWait struct {
	kind  byte
	start int64
}

func newConn(r *run, idx int) *conn {
	return &conn{
		r: r, idx: idx, room: idx / r.cfg.RoomSize, user: userID(idx), shard: idx,
		ready: make(chan error, 1),
	}
}

// sendMessage writes send-message with timestamp ts; it allocates nothing once the
// connection's buffer has grown to the packet's size.
func (c *conn) sendMessage(ts int64) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.seq = (c.seq + 1) & seqMask
	seq := c.seq
	c.amu.Lock()
	c.sent[seq%ackRing] = sentRec{seq, ts}
	c.amu.Unlock()
	c.wbuf = c.r.tmpl[c.room].append(c.wbuf[:0], seq|sendAckBit, ts)
	return c.tr.write(c.wbuf, c.r.msgpack)
}

// emitCtrl sends an event whose ack the connection waits for.
func (c *conn) emitCtrl(kind byte, event string, arg any) error {
	c.amu.Lock()
	c.ctrlSeq++
	id := c.ctrlSeq
	if c.ctrl == nil {
		c.ctrl = make(map[uint32]ctrlWait, 2)
	}
	c.ctrl[id] = ctrlWait{kind, c.r.now()}
	c.amu.Unlock()
	return c.emit(int64(id), event, arg)
}

// emit sends an event; id is codec.NoID for none.
func (c *conn) emit(id int64, event string, arg any) error {
	b, err := encodeEvent(c.r.msgpack, id, event, arg)
	if err != nil {
		return err
	}
	return c.tr.write(b, c.r.msgpack)
}

// onEngine handles one Engine.IO packet; data is only valid during the call.
func (c *conn) onEngine(t codec.EType, data []byte, binary bool) {
	switch t {
	case codec.EOpen:
		if err := c.tr.write(c.connectPkt, c.r.msgpack); err != nil {
			c.lost("write error")
		}
	case codec.EClose:
		c.lost("engine close")
	case codec.EPing:
		c.tr.pong()
	case codec.EMessage:
		if binary {
			c.onMsgpack(data)
		} else {
			c.onJSON(data)
		}
	}
}

// onJSON handles a Socket.IO packet of the JSON parser. Broadcasts are dispatched on their
// name; new-message takes the fast path; names nobody measures are dropped undecoded.
func (c *conn) onJSON(b []byte) {
	if name, ok := jsonEventName(b); ok {
		switch string(name) {
		case "new-message":
			if ts, ok := jsonContentTS(b); ok {
				c.delivered(ts)
				return
			}
		case "user-typing":
			if bytes.Contains(b, jsonTypingOff) {
				return // only starts are measured
			}
		case "presence-update", "error":
		default:
			return
		}
	}
	p, err := c.dec.DecodeText(b)
	if err != nil {
		c.r.errors.add("decode", 1)
		return
	}
	if p != nil {
		c.onPacket(p)
	}
}

// onMsgpack is onJSON for the msgpack parser.
func (c *conn) onMsgpack(b []byte) {
	if name, ok := mpEventName(b); ok {
		switch string(name) {
		case "new-message":
			if ts, ok := mpContentTS(b); ok {
				c.delivered(ts)
				return
			}
		case "user-typing":
			if bytes.Contains(b, mpTypingOff) {
				return
			}
		case "presence-update", "error":
		default:
			return
		}
	}
	p, err := codec.DecodeMsgpack(b)
	if err != nil {
		c.r.errors.add("decode", 1)
		return
	}
	c.onPacket(p)
}

func (c *conn) onPacket(p *codec.SPacket) {
	switch p.Type {
	case codec.SConnect:
		c.connectOK()
	case codec.SConnectError:
		c.connectFailed(connectErrorCode(p.Data))
	case codec.SDisconnect:
		c.lost("io server disconnect")
	case codec.SAck:
		args, _ := p.Data.([]any)
		c.onAck(p.ID, args)
	case codec.SEvent:
		args, _ := p.Data.([]any)
		if len(args) == 0 {
			return
		}
		name, _ := args[0].(string)
		c.onEvent(name, args[1:])
	}
}

func (c *conn) onEvent(name string, args []any) {
	var m map[string]any
	if len(args) > 0 {
		m, _ = args[0].(map[string]any)
	}
	switch name {
	case "new-message": // a message whose content the fast path missed
		content, _ := m["content"].(string)
		if rest, ok := strings.CutPrefix(content, tsPrefix); ok && len(rest) == tsDigits {
			if ts, ok := parseDigits([]byte(rest)); ok {
				c.delivered(ts)
			}
		}
	case "user-typing":
		if on, _ := m["isTyping"].(bool); on {
			uid, _ := m["userId"].(string)
			if u, ok := userIndex(uid); ok {
				c.r.typing.seen(c, u, "")
			}
		}
	case "presence-update":
		uid, _ := m["userId"].(string)
		status, _ := m["status"].(string)
		if u, ok := userIndex(uid); ok {
			c.r.presence.seen(c, u, status)
		}
	case "room-typing", "room-presence-changed": // a big room's coalesced typists and statuses
		users, _ := m["users"].([]any)
		for _, item := range users {
			e, _ := item.(map[string]any)
			uid, _ := e["userId"].(string)
			u, ok := userIndex(uid)
			switch {
			case !ok:
			case name == "room-typing":
				c.r.typing.seen(c, u, "")
			default:
				status, _ := e["status"].(string)
				c.r.presence.seen(c, u, status)
			}
		}
	case "error":
		code, _ := m["code"].(string)
		c.r.errors.add("error event "+orUnknown(code), 1)
	}
}

func (c *conn) onAck(id int64, args []any) {
	ok, code := ackResult(args)
	if id&sendAckBit != 0 {
		seq := uint32(id & seqMask)
		c.amu.Lock()
		rec := c.sent[seq%ackRing]
		c.amu.Unlock()
		if !ok {
			c.r.errors.add("send-message "+code, 1)
			return
		}
		if rec.seq == seq && rec.ts >= c.r.sendStart.Load() {
			c.r.acked.Add(1)
			c.r.ackLat.record(c.shard, c.r.now()-rec.ts)
		}
		return
	}
	c.amu.Lock()
	w, found := c.ctrl[uint32(id)]
	delete(c.ctrl, uint32(id))
	c.amu.Unlock()
	if !found {
		return
	}
	switch w.kind {
	case ctrlJoin:
		c.r.joinAcked(c, ok, code, c.r.now()-w.start)
	case ctrlPresence:
		if !ok {
			c.r.errors.add("update-presence "+code, 1)
		}
	}
}

// delivered records one new-message of the send phase.
func (c *conn) delivered(ts int64) {
	if ts < c.r.sendStart.Load() {
		return // warmup
	}
	c.r.received.Add(1)
	c.r.deliveryLat.record(c.shard, c.r.now()-ts)
}

// connectOK takes the CONNECT reply.
func (c *conn) connectOK() {
	if c.state.CompareAndSwap(stConnecting, stOpen) {
		c.r.connectLat.record(c.shard, c.r.now()-c.start)
		c.ready <- nil
	}
}

// connectFailed takes a refusal before the connection was open.
func (c *conn) connectFailed(code string) {
	if c.state.CompareAndSwap(stConnecting, stDead) {
		c.ready <- connectError(code)
	}
}

// lost marks the connection dead for reason, unless the harness is closing it.
func (c *conn) lost(reason string) {
	if c.closing.Load() {
		return
	}
	for {
		s := c.state.Load()
		if s == stDead {
			return
		}
		if !c.state.CompareAndSwap(s, stDead) {
			continue
		}
		if s == stConnecting {
			c.ready <- connectError(reason)
			return
		}
		c.r.disconnects.add(reason, 1)
		if c.joined.Load() {
			c.r.rooms[c.room].live.Add(-1)
		}
		return
	}
}

func (c *conn) alive() bool { return c.state.Load() == stOpen }

// shutdown closes the connection without counting it as a disconnect.
func (c *conn) shutdown() {
	c.closing.Store(true)
	if c.tr != nil {
		c.tr.close()
	}
}

// connectError is a failed connection, by error code.
type connectError string

func (e connectError) Error() string { return string(e) }

// connectErrorCode reads CONNECT_ERROR {message, data: {code}}.
func connectErrorCode(data any) string {
	m, _ := data.(map[string]any)
	if d, ok := m["data"].(map[string]any); ok {
		if code, ok := d["code"].(string); ok && code != "" {
			return code
		}
	}
	if msg, ok := m["message"].(string); ok && msg != "" {
		return msg
	}
	return "CONNECT_ERROR"
}

// ackResult reads an ack's {ok, error: {code}}.
func ackResult(args []any) (bool, string) {
	if len(args) == 0 {
		return false, "EMPTY_ACK"
	}
	m, _ := args[0].(map[string]any)
	if ok, _ := m["ok"].(bool); ok {
		return true, ""
	}
	if e, ok := m["error"].(map[string]any); ok {
		if code, ok := e["code"].(string); ok && code != "" {
			return false, code
		}
	}
	return false, "UNKNOWN"
}

func orUnknown(s string) string {
	if s == "" {
		return "UNKNOWN"
	}
	return s
}

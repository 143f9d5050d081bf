package engine

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"edgeio/codec"
	"edgeio/server/poll"
)

// wsConn is one WebSocket connection after the upgrade (gws answers the handshake; the
// frames are edgeio's). An idle connection holds no goroutine and no buffer: a poller
// reads it when the kernel says it is readable, decodes frames into the connection's
// small WSDecoder, and hands whole messages to a goroutine that lives only while there
// are messages to handle, so that a handler that waits (a store write) stalls nobody else.
// Writes go straight to the socket from the sender when the socket takes them; what the
// kernel does not take waits for a flush goroutine, within the connection's bounds
// (--max-buffered, --max-queued): whatever it is, a message or a pong, a write that finds
// the peer past them is refused and the peer is cut off as a slow consumer.
type wsConn struct {
	// The write side first, in one cache line: every delivery takes wmu and writes to fd.
	wmu       sync.Mutex
	flushing  bool // a flush goroutine owns the writes
	warm      bool // a flush has run: later writes may go out inline
	lastWrite bool // close the socket once the flush goroutine has written everything
	closeSent bool // the close frame is queued: nothing goes after it
	cutting   bool // the peer is past its bounds: its cut-off is on its way
	closed    atomic.Bool
	linger    *time.Timer // closeGracefully's deadline, stopped once the socket closes
	fd        int
	raw       *poll.Socket // nil when nc is not a socket: no poller, no direct writes
	buffered  atomic.Int64 // bytes of pending and of the flush under way
	writes    atomic.Int64 // entries of pending and of the flush under way
	pending   [][]byte

	srv *Server
	nc  net.Conn
	pl  *poll.Poller // the loop that reads it, once polled is set
	// polled is set once the loop watches the connection (start runs after the session
	// is attached, and a write failing before that may already close the socket).
	polled atomic.Bool
	// firstDelay holds the first flush back (v3 sessions opened on WebSocket, see
	// upgradeNew); only the first flush goroutine reads it.
	firstDelay time.Duration

	dec   codec.WSDecoder // the poller's alone
	pongs []byte          // the poller's alone: the answers to one read's pings, written together
	pings pingBudget      // the poller's alone

	rmu        sync.Mutex
	sess       *Session
	refusal    *refusal    // a refused handshake's connection (refusal.go), with no session
	probing    bool        // an upgrade candidate of a session still on polling
	timer      *time.Timer // the upgrade's deadline while probing; a refusal's linger
	inbox      []inbound
	inboxBytes int
	draining   bool   // a goroutine is handling the inbox
	paused     bool   // reading is off until the inbox drains
	stopped    bool   // reading is off for good
	ended      string // why reading ended; handled after the inbox
	closeCode  uint16 // the client's close frame, answered after the inbox
	endHandled bool
}

type inbound struct {
	data       []byte
	binary     bool
	compressed bool
	owned      bool // data is the decoder's buffer, no one else's: given back (putBuffer) once handled
}

// A connection's reading pauses while this much waits for its handler: a client that
// sends faster than it is served gets TCP backpressure, as with a blocking reader. A
// message of --max-payload waits alone: a connection holds it, the one being handled and
// an unfinished frame at most.
const (
	inboxMaxBytes    = 256 << 10
	inboxMaxMessages = 256
)

func newWSConn(srv *Server, nc net.Conn, deflates bool) *wsConn {
	wc := &wsConn{srv: srv, nc: nc, fd: -1}
	wc.dec.MaxMessage = srv.opts.MaxPayload
	wc.dec.Deflate = deflates
	wc.dec.Alloc = getBuffer
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			wc.raw, wc.fd = poll.NewSocket(raw), poll.FD(raw)
			wc.pl = poll.For(wc.fd)
		}
	}
	return wc
}

// start begins reading: on a poller when there is one, else on a goroutine of its own.
func (wc *wsConn) start() {
	if wc.pl != nil && wc.fd >= 0 {
		wc.polled.Store(true) // before Add: the loop may read wc at once
		if wc.pl.Add(wc.fd, wc) == nil {
			return
		}
		wc.polled.Store(false)
	}
	go wc.readLoop()
}

// readLoop reads a connection that no poller watches.
func (wc *wsConn) readLoop() {
	buf := make([]byte, wc.srv.opts.ReadBufferSize)
	for {
		n, err := wc.nc.Read(buf)
		if n > 0 && !wc.onData(buf[:n]) {
			return
		}
		if err != nil {
			wc.finish(ReasonTransportClose)
			return
		}
	}
}

// OnReadable reads what the socket holds into the poller's buffer.
func (wc *wsConn) OnReadable(buf []byte) {
	n, err := wc.raw.ReadOnce(buf)
	switch {
	case err != nil:
		wc.finish(ReasonTransportClose)
	case n > 0:
		wc.onData(buf[:n])
	}
}

// onData decodes bytes read; it reports false once the connection is done.
func (wc *wsConn) onData(b []byte) bool {
	err := wc.dec.Feed(b, wc.onFrame)
	wc.writePongs()
	switch err {
	case nil:
		return true
	case errClosing: // the close is answered once what came before it is handled
		wc.stopReading()
	case errPingFlood:
		wc.failWith(1008, "too many pings", ReasonPingFlood)
	case codec.ErrWSTooLarge:
		wc.fail(1009)
	default:
		wc.fail(1002)
	}
	return false
}

var (
	errClosing   = io.EOF // a close frame ended the connection
	errPingFlood = errors.New("too many pings")
)

// pingBudget bounds the pings a peer may send: pingRate a second on average, in bursts of
// pingBurst. No client sends them that often (browsers never do; keep-alives come seconds
// apart), while a flood of them makes the server write an answer for each: a peer past the
// budget is cut off (close code 1008 "too many pings"), before its answers pile up.
type pingBudget struct {
	tokens float64
	at     time.Time
}

const (
	pingRate  = 10
	pingBurst = 100
)

// allow spends a ping; false once the peer is over its budget.
func (b *pingBudget) allow(now time.Time) bool {
	if b.at.IsZero() {
		b.tokens = pingBurst
	} else {
		b.tokens = min(pingBurst, b.tokens+now.Sub(b.at).Seconds()*pingRate)
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// onFrame takes one control frame or data message from the decoder.
func (wc *wsConn) onFrame(op byte, payload []byte, compressed, owned bool) error {
	switch op {
	case codec.WSPing:
		// every ping within the budget is answered, in one write per read; one that does not
		// read its answers is cut off at its bounds like any other
		if !wc.pings.allow(time.Now()) {
			return errPingFlood
		}
		wc.pongs = appendFrame(wc.pongs, codec.WSPong, payload, false)
	case codec.WSPong:
	case codec.WSClose:
		code := uint16(1000)
		if len(payload) >= 2 {
			code = uint16(payload[0])<<8 | uint16(payload[1])
		}
		if code < 1000 || code == 1005 || code == 1006 || code == 1015 {
			code = 1000 // codes that must never be sent are answered with a normal close
		}
		wc.rmu.Lock()
		wc.closeCode = code
		wc.rmu.Unlock()
		wc.end(ReasonTransportClose)
		return errClosing
	default:
		wc.writePongs() // answered before whatever the message makes the server send
		if !owned {     // the read buffer's: copied (a large message is the decoder's, not copied)
			payload = bytes.Clone(payload)
		}
		wc.queue(inbound{data: payload, binary: op == codec.WSBinary, compressed: compressed, owned: owned})
	}
	return nil
}

// writePongs writes the answers to the pings read so far.
func (wc *wsConn) writePongs() {
	if len(wc.pongs) > 0 {
		wc.write(wc.pongs)
		wc.pongs = nil
	}
}

// closeWith sends a close frame with code, as the last thing written, unless one was.
// The codes the server closes a broken connection with carry their reason, which a
// browser shows as CloseEvent.reason. It is let through whatever waits: one per connection.
func (wc *wsConn) closeWith(code uint16) {
	wc.wmu.Lock()
	defer wc.wmu.Unlock()
	wc.closeLocked(code)
}

func (wc *wsConn) closeLocked(code uint16) { wc.closeLockedSaying(code, closeReasons[code]) }

// closeLockedSaying sends the close frame with code and text as its reason (callers hold
// wmu).
func (wc *wsConn) closeLockedSaying(code uint16, text string) {
	if wc.closeSent {
		return
	}
	wc.closeSent = true
	wc.enqueue(appendFrame(nil, codec.WSClose, append([]byte{byte(code >> 8), byte(code)}, text...), false))
}

var closeReasons = map[uint16]string{
	1002: "protocol error",
	1007: "invalid frame payload data",
	1008: "slow consumer",
	1009: "message too big",
	1012: "service restart",
}

// queue hands a message to the connection's handler goroutine, starting one if none runs.
func (wc *wsConn) queue(m inbound) {
	wc.rmu.Lock()
	wc.inbox = append(wc.inbox, m)
	wc.inboxBytes += len(m.data)
	if !wc.paused && wc.polled.Load() && (wc.inboxBytes > inboxMaxBytes || len(wc.inbox) > inboxMaxMessages) {
		wc.paused = true
		wc.pl.Pause(wc.fd)
	}
	wc.startDrainLocked()
	wc.rmu.Unlock()
}

func (wc *wsConn) startDrainLocked() {
	if !wc.draining {
		wc.draining = true
		go wc.drain()
	}
}

// finish ends the connection: its socket closes now, and what it had sent is still
// handled, in order, before the session hears of the close. Any goroutine may call it.
func (wc *wsConn) finish(reason string) {
	wc.closeSocket()
	wc.end(reason)
}

// end marks the end of what the client sends; the session hears of it after the inbox.
func (wc *wsConn) end(reason string) {
	wc.rmu.Lock()
	if wc.ended == "" {
		wc.ended = reason
		wc.startDrainLocked()
	}
	wc.rmu.Unlock()
}

// drain handles the inbox until it is empty, then exits.
func (wc *wsConn) drain() {
	for {
		wc.rmu.Lock()
		if len(wc.inbox) == 0 {
			end := wc.ended != "" && !wc.endHandled
			wc.endHandled = wc.endHandled || end
			wc.draining = false
			wc.inbox = nil // an idle connection keeps no backing array
			code := wc.closeCode
			wc.rmu.Unlock()
			if end {
				if code != 0 { // the client's close, answered after its last messages
					wc.closeGracefully(code)
				}
				wc.onEnd()
			}
			return
		}
		m := wc.inbox[0]
		wc.inbox[0] = inbound{}
		wc.inbox = wc.inbox[1:]
		wc.inboxBytes -= len(m.data)
		if wc.paused && wc.inboxBytes <= inboxMaxBytes/2 && len(wc.inbox) <= inboxMaxMessages/2 {
			wc.paused = false
			if !wc.stopped && !wc.closed.Load() {
				wc.pl.Resume(wc.fd)
			}
		}
		wc.rmu.Unlock()
		wc.handle(m)
		if m.owned { // the handler keeps nothing of a message (Handler)
			putBuffer(m.data)
		}
	}
}

// handle decodes one message into an Engine.IO packet for the session or the upgrade.
func (wc *wsConn) handle(m inbound) {
	data := m.data
	if m.compressed {
		var err error
		if data, err = codec.WSInflate(data, wc.srv.opts.MaxPayload); err != nil {
			code := uint16(1007) // data that does not inflate
			if err == codec.ErrWSTooLarge {
				code = 1009
			}
			wc.fail(code)
			return
		}
	}
	if !m.binary && !utf8.Valid(data) {
		wc.fail(1007)
		return
	}
	wc.rmu.Lock()
	sess, probing, refused := wc.sess, wc.probing, wc.refusal
	wc.rmu.Unlock()
	if refused != nil {
		if !m.binary {
			if p, err := codec.ParseText(data); err == nil {
				wc.onRefusedMessage(p)
			}
		} else if refused.protocol == 4 {
			wc.onRefusedMessage(codec.EPacket{Type: codec.EMessage, Data: data, Binary: true})
		}
		return
	}
	if sess == nil {
		return
	}
	var p codec.EPacket
	var err error
	switch {
	case !m.binary:
		p, err = codec.ParseText(data)
	case sess.Protocol == 4:
		p = codec.EPacket{Type: codec.EMessage, Data: data, Binary: true}
	default:
		p, err = codec.DecodeBinaryV3(data)
	}
	switch {
	case err != nil && probing:
		wc.finish(ReasonTransportClose)
	case err != nil:
		sess.Close(reasonParseError)
	case probing:
		wc.onProbe(p)
	default:
		sess.onPacket(p)
	}
}

// onEnd tells whoever owns the connection that it is gone: the session it carries, or,
// for an upgrade candidate, the session it failed to upgrade, which goes on polling.
func (wc *wsConn) onEnd() {
	wc.rmu.Lock()
	sess, probing, timer, refused := wc.sess, wc.probing, wc.timer, wc.refusal
	wc.rmu.Unlock()
	switch {
	case refused != nil:
		timer.Stop()
		wc.srv.refusals.release()
	case sess == nil:
	case probing: // a candidate that did not take over (onProbe runs on this goroutine too)
		timer.Stop()
		sess.mu.Lock()
		sess.upgrading = false
		sess.candidate = false
		sess.mu.Unlock()
	default:
		reason := ReasonTransportClose
		wc.rmu.Lock()
		if wc.ended == ReasonPingFlood {
			reason = wc.ended
		}
		wc.rmu.Unlock()
		sess.Close(reason)
	}
}

// write sends frames after everything written before: straight away when the socket
// takes them all, else through the flush goroutine. It may be called from any goroutine.
// It reports false, writing nothing, once the connection is closed or closing, and when
// the peer let more than --max-buffered bytes or --max-queued writes wait before this one:
// then the peer is cut off (once, on a goroutine of its own: the caller may hold the
// session's lock). One large write to a peer that reads goes out whatever its size.
func (wc *wsConn) write(frames []byte) bool {
	wc.wmu.Lock()
	defer wc.wmu.Unlock()
	if wc.closed.Load() || wc.closeSent {
		return false
	}
	o := &wc.srv.opts
	if wc.buffered.Load() > int64(o.MaxBuffered) || wc.writes.Load() > int64(o.MaxQueued) {
		if !wc.cutting {
			wc.cutting = true
			go wc.cutOffSlow()
		}
		return false
	}
	wc.enqueue(frames)
	return true
}

// enqueue writes or queues frames, unchecked (callers hold wmu). The first frames (the
// handshake) go through the flush goroutine, a moment after the 101: a client that starts
// listening for messages only once it has seen the connection open (the official test
// suites do) would often miss a handshake read with the 101.
func (wc *wsConn) enqueue(frames []byte) {
	if len(frames) == 0 || wc.closed.Load() {
		return
	}
	if !wc.flushing {
		n := 0
		if wc.warm {
			n = wc.writeNow(frames)
		}
		if n == len(frames) {
			return
		}
		frames = frames[n:]
		wc.flushing = true
		go wc.flush()
	}
	wc.pending = append(wc.pending, frames)
	wc.buffered.Add(int64(len(frames)))
	wc.writes.Add(1)
}

// flushBatch bounds one writev of the flush goroutine: what waits behind it can still be
// dropped for a slow consumer, whose farewell then goes out after at most this much.
const flushBatch = 256 << 10

// takePending takes the pending writes for one writev, flushBatch bytes or the first
// entry (callers hold wmu).
func (wc *wsConn) takePending() [][]byte {
	n, size := 0, 0
	for n < len(wc.pending) && (n == 0 || size+len(wc.pending[n]) <= flushBatch) {
		size += len(wc.pending[n])
		n++
	}
	frames := wc.pending[:n:n]
	if n == len(wc.pending) {
		wc.pending = nil
	} else {
		wc.pending = wc.pending[n:]
	}
	return frames
}

// cutOffSlow cuts off a peer past its bounds: the session it carries as a slow consumer;
// an upgrade candidate (its session goes on polling) or a connection that has no session
// with a close frame 1008 alone.
func (wc *wsConn) cutOffSlow() {
	wc.rmu.Lock()
	sess, probing := wc.sess, wc.probing
	wc.rmu.Unlock()
	if sess != nil && !probing {
		sess.cutOffSlow()
		return
	}
	wc.farewell(nil)
	wc.end(ReasonTransportClose)
}

// farewell ends the connection of a slow consumer: nothing more is read from it, what
// waits for it is dropped, last (the frames that tell it why) goes out in its place, then
// a close frame 1008 "slow consumer"; the socket closes once they are written, or a
// second later.
func (wc *wsConn) farewell(last []byte) {
	wc.stopReading()
	wc.wmu.Lock()
	wc.dropPending()
	if !wc.closeSent {
		wc.enqueue(last)
		wc.closeLocked(1008)
	}
	wc.wmu.Unlock()
	wc.closeWhenWritten()
	time.AfterFunc(time.Second, wc.closeSocket)
}

// dropPending forgets what waits for the flush goroutine, but for its first entry, which
// may be the rest of a frame the socket took part of: what is written after it starts on
// a frame's boundary (callers hold wmu).
func (wc *wsConn) dropPending() {
	if len(wc.pending) < 2 {
		return
	}
	var n int64
	for _, f := range wc.pending[1:] {
		n += int64(len(f))
	}
	wc.buffered.Add(-n)
	wc.writes.Add(-int64(len(wc.pending) - 1))
	clear(wc.pending[1:])
	wc.pending = wc.pending[:1]
}

// writeNow makes one non-blocking write and returns how much the socket took. Callers
// hold wmu, which closeSocket takes before closing: the descriptor is still this socket's.
func (wc *wsConn) writeNow(b []byte) int {
	if wc.raw == nil || wc.closed.Load() {
		return 0
	}
	return poll.WriteFD(wc.fd, b)
}

// flush writes what is pending, a writev at a time, until nothing is.
func (wc *wsConn) flush() {
	if d := wc.firstDelay; d > 0 {
		wc.firstDelay = 0
		time.Sleep(d)
	}
	for {
		wc.wmu.Lock()
		frames := wc.takePending()
		if len(frames) == 0 {
			wc.flushing, wc.warm = false, true
			last := wc.lastWrite
			wc.wmu.Unlock()
			if last {
				wc.closeSocket()
			}
			return
		}
		wc.wmu.Unlock()
		var n int64
		for _, f := range frames {
			n += int64(len(f))
		}
		bufs := net.Buffers(frames)
		_, err := bufs.WriteTo(wc.nc)
		wc.buffered.Add(-n)
		wc.writes.Add(-int64(len(frames)))
		if err != nil {
			wc.finish(ReasonTransportClose) // flushing stays set: nothing more is written
			return
		}
	}
}

// stopReading takes the connection out of its epoll loop for good: nothing more is
// decoded, and a drain that frees the inbox does not put it back.
func (wc *wsConn) stopReading() {
	wc.rmu.Lock()
	wc.stopped = true
	wc.rmu.Unlock()
	if wc.polled.Load() {
		wc.pl.Remove(wc.fd, wc)
	}
}

// fail ends a connection that broke the protocol: nothing more is read, the close frame
// with code goes out after what is queued, and the session hears of the end after the
// messages that came before.
func (wc *wsConn) fail(code uint16) { wc.failWith(code, closeReasons[code], ReasonTransportClose) }

// failWith ends a connection as fail does, with text as the close frame's reason and
// reason as the session's.
func (wc *wsConn) failWith(code uint16, text, reason string) {
	wc.stopReading()
	wc.wmu.Lock()
	wc.closeLockedSaying(code, text)
	wc.wmu.Unlock()
	wc.closeGracefully(code) // the frame is on its way: closes once it is written
	wc.end(reason)
}

// closeGracefully sends a close frame with code after what is queued and closes the
// socket once it is written: a second at most, so a peer that stops reading cannot hold
// it open.
func (wc *wsConn) closeGracefully(code uint16) {
	wc.closeWith(code)
	wc.closeWhenWritten()
	t := time.AfterFunc(time.Second, wc.closeSocket)
	wc.wmu.Lock()
	if wc.closed.Load() {
		t.Stop() // closed already: the timer need not hold the connection for a second
	} else {
		wc.linger = t
	}
	wc.wmu.Unlock()
}

// closeWhenWritten closes the socket once what is queued has gone out.
func (wc *wsConn) closeWhenWritten() {
	wc.wmu.Lock()
	pending := wc.flushing
	wc.lastWrite = true
	wc.wmu.Unlock()
	if !pending {
		wc.closeSocket()
	}
}

// cut closes the socket now, unless a close frame is on its way out: closeGracefully
// closes it once that is written (the session hears of the end before that).
func (wc *wsConn) cut() {
	wc.wmu.Lock()
	graceful := wc.lastWrite
	wc.wmu.Unlock()
	if !graceful {
		wc.closeSocket()
	}
}

// closeSocket closes the TCP connection at once; what was not written is lost.
func (wc *wsConn) closeSocket() {
	wc.wmu.Lock() // no direct write is under way (writeNow)
	already := wc.closed.Swap(true)
	linger := wc.linger
	wc.linger = nil
	wc.wmu.Unlock()
	if linger != nil {
		// what it holds (its decoder's unfinished frame, up to --max-payload) goes now,
		// not a second later
		linger.Stop()
	}
	if already {
		return
	}
	wc.stopReading()
	_ = wc.nc.Close()
}

// closeAfterWrites sends a close frame with code after what is queued, and cuts a peer
// that does not answer it within a second.
func (wc *wsConn) closeAfterWrites(code uint16) {
	wc.closeWith(code)
	time.AfterFunc(time.Second, func() { wc.finish(ReasonTransportClose) })
}

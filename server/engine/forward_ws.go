package engine

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"edgeio/server/poll"

	"github.com/valyala/fasthttp"
)

const (
	// forwardAnswerTimeout bounds the wait for a node's answer to a forwarded upgrade.
	forwardAnswerTimeout = 5 * time.Second
	// maxAnswerHead bounds the head of that answer (a 101 is a few hundred bytes), and the
	// body of a refusal passed on.
	maxAnswerHead = 4 << 10
)

// upgrade carries a WebSocket upgrade to the node holding its session: the request goes
// there as it came, with the hop's headers, and the node's answer comes back. A 101 joins
// the two connections into a pipe for as long as both are open; any other answer is passed
// on and both connections close. Its place among the forwards in flight is released once
// the node has answered.
func (f *forwarder) upgrade(ctx *fasthttp.RequestCtx, p *peer, ip netip.Addr) {
	var h fasthttp.RequestHeader
	ctx.Request.Header.CopyTo(&h)
	h.Set(hopKeyHeader, p.Key)
	h.Set(hopClientHeader, ip.String())
	head := h.AppendBytes(nil)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		// the socket itself, as in hijack (websocket.go): a client sends nothing before the 101
		if raw, ok := client.(interface{ UnsafeConn() net.Conn }); ok {
			client = raw.UnsafeConn()
		}
		node, upgraded := f.answerUpgrade(client, p, head)
		f.inflight.Add(-1)
		if !upgraded {
			if node != nil {
				_ = node.Close()
			}
			_ = client.Close()
			return
		}
		f.join(client, node)
	})
}

// answerUpgrade sends the upgrade's head to p and passes the head of p's answer (and the
// body of a refusal) on to the client. It returns the connection to p (nil when there is
// none) and whether p upgraded it.
func (f *forwarder) answerUpgrade(client net.Conn, p *peer, head []byte) (*peerConn, bool) {
	node, err := p.dial()
	if err != nil {
		p.failed(err)
		f.srv.opts.Stats.Forwards.Failures.Add(1)
		writeRawError(client, errUnknownSid)
		return nil, false
	}
	_ = node.SetDeadline(time.Now().Add(forwardAnswerTimeout))
	r := bufio.NewReaderSize(node, 1024)
	status, length, answer, err := exchangeHeads(node, r, head)
	if err != nil {
		f.srv.opts.Stats.Forwards.Failures.Add(1)
		writeRawError(client, errUnknownSid)
		return node, false
	}
	_ = client.SetWriteDeadline(time.Now().Add(forwardAnswerTimeout))
	defer client.SetWriteDeadline(time.Time{})
	if status != fasthttp.StatusSwitchingProtocols {
		body := make([]byte, min(max(length, 0), maxAnswerHead))
		n, _ := io.ReadFull(r, body)
		_, _ = client.Write(append(answer, body[:n]...))
		return node, false
	}
	_ = node.SetDeadline(time.Time{})
	// the head, and what came with it: the node's first frames
	first, _ := r.Peek(r.Buffered())
	_, err = client.Write(append(answer, first...))
	return node, err == nil
}

// exchangeHeads writes head to node and reads the head of its answer.
func exchangeHeads(node net.Conn, r *bufio.Reader, head []byte) (status, length int, answer []byte, err error) {
	if _, err = node.Write(head); err != nil {
		return 0, 0, nil, err
	}
	return readAnswerHead(r)
}

// readAnswerHead reads the head of a node's answer to an upgrade: its status, the length of
// its body, and the head's bytes (maxAnswerHead at most).
func readAnswerHead(r *bufio.Reader) (status, length int, answer []byte, err error) {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, 0, nil, err
		}
		if len(answer)+len(line) > maxAnswerHead {
			return 0, 0, nil, errBadAnswer
		}
		first := len(answer) == 0
		answer = append(answer, line...)
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case first: // HTTP/1.1 101 Switching Protocols
			_, code, _ := bytes.Cut(line, []byte(" "))
			if len(code) < 3 {
				return 0, 0, nil, errBadAnswer
			}
			if status, err = strconv.Atoi(string(code[:3])); err != nil || status < 100 {
				return 0, 0, nil, errBadAnswer
			}
		case len(line) == 0:
			return status, length, answer, nil
		default:
			name, value, _ := bytes.Cut(line, []byte(":"))
			if bytes.EqualFold(name, []byte("Content-Length")) {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(value)))
			}
		}
	}
}

var errBadAnswer = errors.New("engine: a node's answer to a forwarded upgrade does not parse")

// writeRawError answers a hijacked request with an Engine.IO error, as writeError does
// through fasthttp.
func writeRawError(nc net.Conn, code int) {
	body := `{"code":` + strconv.Itoa(code) + `,"message":"` + errMessages[code] + `"}`
	_ = nc.SetWriteDeadline(time.Now().Add(forwardAnswerTimeout))
	_, _ = io.WriteString(nc, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
}

// wsPipe joins a client's WebSocket to the connection to the node that holds its session.
// Like the server's own WebSockets (wsconn.go), an idle pipe holds no goroutine and no
// buffer: the pollers read both sockets, and what one side sends is written to the other
// at once. What the other side does not take at once is written by a goroutine while
// reading the first side pauses, which passes TCP's backpressure on to the sender.
type wsPipe struct {
	f            *forwarder
	node         *peerConn
	writeTimeout time.Duration

	mu     sync.Mutex // held across direct writes: the sockets do not close under them
	closed bool
	ends   [2]pipeEnd // the client's, the node's
}

// pipeEnd is one side of a pipe; what it reads goes to the other side.
type pipeEnd struct {
	pipe  *wsPipe
	nc    net.Conn
	fd    int
	raw   *poll.Socket
	pl    *poll.Poller
	other *pipeEnd
}

// join carries a WebSocket between client and node until either closes: on the pollers,
// or, where there are none, on a goroutine for each way.
func (f *forwarder) join(client net.Conn, node *peerConn) {
	o := f.srv.opts
	w := &wsPipe{f: f, node: node, writeTimeout: o.PingInterval + o.PingTimeout}
	w.ends[0] = pipeEnd{pipe: w, nc: client, fd: -1}
	w.ends[1] = pipeEnd{pipe: w, nc: node.Conn, fd: -1}
	w.ends[0].other, w.ends[1].other = &w.ends[1], &w.ends[0]
	polled := true
	for i := range w.ends {
		e := &w.ends[i]
		if sc, ok := e.nc.(syscall.Conn); ok {
			if raw, err := sc.SyscallConn(); err == nil {
				e.raw, e.fd = poll.NewSocket(raw), poll.FD(raw)
				e.pl = poll.For(e.fd)
			}
		}
		polled = polled && e.pl != nil && e.fd >= 0
	}
	f.hmu.Lock()
	f.pipes[w] = struct{}{}
	draining := f.draining
	f.hmu.Unlock()
	if draining || !node.carry(w) { // the drain began, or the node left, meanwhile
		w.close()
		return
	}
	if !polled {
		go w.copy(&w.ends[1])
		w.copy(&w.ends[0])
		return
	}
	// under the lock: a side that ends at once closes the pipe only once both are watched
	w.mu.Lock()
	var err error
	for i := range w.ends {
		if err == nil {
			err = w.ends[i].pl.Add(w.ends[i].fd, &w.ends[i])
		}
	}
	w.mu.Unlock()
	if err != nil {
		w.close()
	}
}

// OnReadable passes what the socket holds on to the other side.
func (e *pipeEnd) OnReadable(buf []byte) {
	n, err := e.raw.ReadOnce(buf)
	if err != nil {
		e.pipe.close()
		return
	}
	if n == 0 {
		return
	}
	w := e.pipe
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	sent := poll.WriteFD(e.other.fd, buf[:n])
	if sent < n {
		e.pl.Pause(e.fd) // under the lock: the number is still this socket's
	}
	w.mu.Unlock()
	if sent < n {
		go e.finish(append([]byte(nil), buf[sent:n]...))
	}
}

// finish writes what the other side did not take at once, then reads again.
func (e *pipeEnd) finish(rest []byte) {
	w := e.pipe
	_ = e.other.nc.SetWriteDeadline(time.Now().Add(w.writeTimeout))
	_, err := e.other.nc.Write(rest)
	if err != nil {
		w.close()
		return
	}
	_ = e.other.nc.SetWriteDeadline(time.Time{})
	w.mu.Lock()
	if !w.closed {
		e.pl.Resume(e.fd)
	}
	w.mu.Unlock()
}

// copy carries one way of a pipe that no poller reads.
func (w *wsPipe) copy(from *pipeEnd) {
	_, _ = io.Copy(from.other.nc, from.nc)
	w.close()
}

func (w *wsPipe) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	for i := range w.ends {
		e := &w.ends[i]
		if e.pl != nil && e.fd >= 0 {
			e.pl.Remove(e.fd, e) // before the socket closes, while the number is its own
		}
		_ = e.nc.Close()
	}
	w.node.peer.forget(w.node)
	w.f.hmu.Lock()
	delete(w.f.pipes, w)
	w.f.hmu.Unlock()
}

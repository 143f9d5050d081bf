//go:build unix

package bench

import (
	"io"
	"net"
	"syscall"
)

// readLoop reads inside one RawConn.Read: the callback reads and decodes until a read
// comes back short, which leaves the socket empty, then asks to wait for readiness. The
// edge-triggered poller reports data that arrives after that read, so no empty read is
// needed to find out that there is nothing more.
func (rd *wsReader) readLoop(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		rd.readBlocking(nc)
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		rd.done = err
		return
	}
	err = raw.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.Read(int(fd), rd.buf)
			switch {
			case err == syscall.EAGAIN:
				return false
			case err == syscall.EINTR:
				continue
			case err != nil:
				rd.done = err
				return true
			case n == 0:
				rd.done = io.EOF
				return true
			}
			if !rd.feed(rd.buf[:n]) {
				return true
			}
			if n < len(rd.buf) {
				return false
			}
		}
	})
	if err != nil && rd.done == nil {
		rd.done = err
	}
}

package poll

import (
	"io"
	"syscall"
)

// FD returns the descriptor of raw's socket, -1 when it has none.
func FD(raw syscall.RawConn) int {
	fd := -1
	if raw != nil {
		_ = raw.Control(func(f uintptr) { fd = int(f) })
	}
	return fd
}

// ReadOnce makes one non-blocking read: n bytes, or n == 0 with err == nil when there is
// nothing to read yet, or an error (io.EOF at the end of the stream).
func ReadOnce(raw syscall.RawConn, buf []byte) (int, error) {
	var n int
	var rerr error
	if err := raw.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf)
		return true // one attempt: the loop reports the socket again while it has more
	}); err != nil {
		return 0, err
	}
	switch {
	case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		return 0, nil
	case rerr != nil:
		return 0, rerr
	case n <= 0:
		return 0, io.EOF
	}
	return n, nil
}

// WriteOnce makes one non-blocking write and returns how much the socket took (0 when it
// took nothing or failed: a blocking write afterwards meets the error).
func WriteOnce(raw syscall.RawConn, b []byte) int {
	var n int
	var werr error
	if err := raw.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), b)
		return true
	}); err != nil || werr != nil || n < 0 {
		return 0
	}
	return n
}

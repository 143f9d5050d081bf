//go:build unix

package poll

import (
	"io"
	"syscall"
	"unsafe"
)

// FD returns the descriptor of raw's socket, -1 when it has none.
func FD(raw syscall.RawConn) int {
	fd := -1
	if raw != nil {
		_ = raw.Control(func(f uintptr) { fd = int(f) })
	}
	return fd
}

// Socket makes single non-blocking reads through a socket's RawConn, which keeps the
// descriptor from closing under them, without allocating per call: the function handed
// to the RawConn is bound once.
type Socket struct {
	raw    syscall.RawConn
	rbuf   []byte
	rn     int
	rerr   error
	readFn func(uintptr) bool
}

// NewSocket wraps raw.
func NewSocket(raw syscall.RawConn) *Socket {
	s := &Socket{raw: raw}
	s.readFn = s.read
	return s
}

// The socket is non-blocking, so its reads and writes return at once: they are made as
// raw system calls, without telling the scheduler. With one write per delivery, the usual
// way (the scheduler's enter and exit, its monitor taking the processor away from a
// goroutine it finds in a system call and waking a thread for it) cost more than the
// calls themselves.

func (s *Socket) read(fd uintptr) bool {
	s.rn, s.rerr = rawCall(syscall.SYS_READ, fd, s.rbuf)
	return true // one attempt: the loop reports the socket again while it has more
}

func rawCall(trap, fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

// ReadOnce reads into buf once: n bytes, or n == 0 with a nil error when there is nothing
// to read yet, or an error (io.EOF at the end of the stream). One reader at a time.
func (s *Socket) ReadOnce(buf []byte) (int, error) {
	s.rbuf = buf
	err := s.raw.Read(s.readFn)
	n, rerr := s.rn, s.rerr
	s.rbuf = nil
	switch {
	case err != nil:
		return 0, err
	case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		return 0, nil
	case rerr != nil:
		return 0, rerr
	case n <= 0:
		return 0, io.EOF
	}
	return n, nil
}

// WriteFD sends b once on a bare socket descriptor and returns how much the socket took
// (0 when it took nothing or failed: a blocking write afterwards meets the error). It
// skips the RawConn's bookkeeping, so the caller's own lock must keep the socket from
// closing during the call.
//
// It is send(2), not write(2), whose generic file layer (vfs_write, the position lock)
// showed as 6.6% of the server's CPU in perf at one call per delivery; send's own way to
// the socket took 4.8% in its place.
func WriteFD(fd int, b []byte) int {
	if len(b) == 0 {
		return 0
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])),
		uintptr(len(b)), sendFlags, 0, 0)
	if errno != 0 {
		return 0
	}
	return int(n)
}

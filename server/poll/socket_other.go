//go:build !unix

package poll

import (
	"errors"
	"syscall"
)

// Without Unix system calls there are no loops (For returns nil) and no direct writes:
// every write goes through the connection's own writer.

// FD returns -1: there is no descriptor to use directly here.
func FD(syscall.RawConn) int { return -1 }

// Socket is a placeholder for the Unix one.
type Socket struct{}

// NewSocket wraps raw.
func NewSocket(syscall.RawConn) *Socket { return &Socket{} }

var errUnsupported = errors.New("poll: not supported on this system")

// ReadOnce is never called here: no loop reads.
func (s *Socket) ReadOnce([]byte) (int, error) { return 0, errUnsupported }

// WriteFD takes nothing, so the caller's blocking writer sends it all.
func WriteFD(int, []byte) int { return 0 }

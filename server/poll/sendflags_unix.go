//go:build unix && !linux

package poll

import "syscall"

// Go's runtime ignores SIGPIPE for sockets; the socket is non-blocking in any case.
const sendFlags = syscall.MSG_DONTWAIT

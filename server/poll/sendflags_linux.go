package poll

import "syscall"

// A peer gone away is an EPIPE from the call, not a signal to the process.
const sendFlags = syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL

package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes a redis-server die with the test binary, even when a crash skips the
// cleanups.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

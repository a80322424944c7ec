package s3test

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the server if the test binary
// dies without running its cleanups (a -timeout panic, a SIGKILL), so no
// versitygw outlives its tests.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

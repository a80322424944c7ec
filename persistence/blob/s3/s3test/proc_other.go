//go:build !linux

package s3test

import "os/exec"

// setDeathSignal does nothing: only Linux can tie a child's life to its
// parent's. A test binary killed without cleanups leaves versitygw
// running there.
func setDeathSignal(cmd *exec.Cmd) {}

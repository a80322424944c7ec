package e2e

import (
	"time"

	"github.com/stretchr/testify/require"
)

// PollInterval is how often Eventually and Never look again.
const PollInterval = 20 * time.Millisecond

// Eventually polls cond on the calling goroutine (so cond may call the
// kit with t, which require.Eventually's goroutine may not) until it
// holds, and fails t after d.
func Eventually(t TB, d time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "condition never satisfied", msgAndArgs...)
		}
		<-time.After(PollInterval)
	}
}

// Never polls cond on the calling goroutine for d and fails t if it ever
// holds.
func Never(t TB, d time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); <-time.After(PollInterval) {
		if cond() {
			require.FailNow(t, "condition satisfied", msgAndArgs...)
		}
	}
}

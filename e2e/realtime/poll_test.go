package realtime_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
)

// eventually polls cond on the test's goroutine (so cond may call the
// kit with t) until it holds, and fails the test after d.
func eventually(t *testing.T, d time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			require.Fail(t, "condition never satisfied", msgAndArgs...)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// never polls cond on the test's goroutine for d and fails the test if
// it ever holds.
func never(t *testing.T, d time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); <-time.After(20 * time.Millisecond) {
		if cond() {
			require.Fail(t, "condition satisfied", msgAndArgs...)
		}
	}
}

// metrics is the node's Prometheus exposition.
func metrics(t *testing.T, a *e2e.API) string {
	t.Helper()
	return string(a.Anon().Get(t, "/metrics").RequireStatus(t, 200).Body)
}

var sessionsGauge = regexp.MustCompile(`(?m)^outrider_ws_sessions (\S+)$`)

// wsSessions is the node's gauge of open WebSocket sessions.
func wsSessions(t *testing.T, a *e2e.API) float64 {
	t.Helper()
	m := sessionsGauge.FindStringSubmatch(metrics(t, a))
	require.NotNil(t, m, "no outrider_ws_sessions in /metrics")
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

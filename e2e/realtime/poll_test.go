package realtime_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
)

// eventually and never are the kit's pollers (e2e.Eventually, e2e.Never).
func eventually(t *testing.T, d time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	e2e.Eventually(t, d, cond, msgAndArgs...)
}

func never(t *testing.T, d time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	e2e.Never(t, d, cond, msgAndArgs...)
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

package ws

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestGatewaySeriesStartAtZero: the gateway's labelled counters have
// every known label value's series before anything happens, so that
// increase() sees the first step and the Realtime dashboard shows them.
func TestGatewaySeriesStartAtZero(t *testing.T) {
	t.Parallel()
	m := newMetrics(prometheus.NewRegistry())
	for name, tc := range map[string]struct {
		vec  *prometheus.CounterVec
		want int
	}{
		"outrider_ws_frames_total":           {m.frames, 2},
		"outrider_ws_location_frames_total":  {m.fixes, 3},
		"outrider_ws_job_frames_total":       {m.jobs, 2},
		"outrider_ws_upgrades_refused_total": {m.refused, 2},
	} {
		require.Equal(t, tc.want, testutil.CollectAndCount(tc.vec, name), name)
	}
	require.Zero(t, testutil.ToFloat64(m.refused.WithLabelValues("node")))
}

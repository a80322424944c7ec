package bus

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestRelayErrorSeriesStartAtZero: every stage's error series exists
// before the first failure, so that increase() sees that failure and
// deploy/prometheus's OutriderOutboxPublishErrors can fire on it.
func TestRelayErrorSeriesStartAtZero(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, slog.New(slog.DiscardHandler))
	require.Equal(t, 3, testutil.CollectAndCount(m.errors, "outrider_outbox_publish_errors_total"))
	for _, stage := range []string{StageRead, StagePublish, StageMark} {
		require.Zero(t, testutil.ToFloat64(m.errors.WithLabelValues(stage)), stage)
	}
	// Without a registry (callers that register Collectors themselves)
	// the series exist all the same.
	require.Equal(t, 3, testutil.CollectAndCount(newMetrics(nil, nil).errors))
}

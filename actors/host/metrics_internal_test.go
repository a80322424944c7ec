package host

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
)

// TestFenceSeriesStartAtZero: every journaled kind's fence rejections and
// re-decided refusals exist before the first one, at 0, so that
// increase() sees it and OutriderFenceRejections can fire.
func TestFenceSeriesStartAtZero(t *testing.T) {
	t.Parallel()
	m := newMetrics(prometheus.NewRegistry())
	require.Equal(t, 3, testutil.CollectAndCount(m.conflicts, "outrider_actor_journal_conflicts_total"))
	require.Equal(t, 3, testutil.CollectAndCount(m.redecided, "outrider_actor_refusals_redecided_total"))
	for _, kind := range []string{actors.KindOrder, actors.KindDriver, actors.KindUser} {
		require.Zero(t, testutil.ToFloat64(m.conflicts.WithLabelValues(kind)), kind)
	}
}

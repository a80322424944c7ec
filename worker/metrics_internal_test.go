package worker

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestWorkerSeriesStartAtZero: webhook outcomes exist from the start, and
// a consumer's dead-letter and outcome series from its first message, at
// 0, so that increase() sees the first dead letter or failure and
// deploy/prometheus's OutriderWorkerDeadLetters and
// OutriderWorkerFailing can fire on it.
func TestWorkerSeriesStartAtZero(t *testing.T) {
	t.Parallel()
	m := newMetrics(prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	require.Equal(t, len(webhookOutcomes), testutil.CollectAndCount(m.webhooks, "outrider_webhook_attempts_total"))
	require.Zero(t, testutil.CollectAndCount(m.deadLetters), "no consumer has run yet")

	m.handled("notifications", nil, time.Millisecond)
	require.Equal(t, 1, testutil.CollectAndCount(m.deadLetters, "outrider_worker_dead_letters_total"))
	require.Zero(t, testutil.ToFloat64(m.deadLetters.WithLabelValues("notifications")))
	require.Equal(t, len(outcomes), testutil.CollectAndCount(m.messages, "outrider_worker_messages_total"))
	require.Equal(t, 1.0, testutil.ToFloat64(m.messages.WithLabelValues("notifications", "ok")))
	require.Zero(t, testutil.ToFloat64(m.messages.WithLabelValues("notifications", "failed")))

	m.handled("email", errors.New("smtp down"), time.Millisecond)
	require.Equal(t, 2, testutil.CollectAndCount(m.deadLetters))
	require.Equal(t, 1.0, testutil.ToFloat64(m.messages.WithLabelValues("email", "failed")))
}

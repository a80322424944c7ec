package worker

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outrider/outrider/internal/promreg"
)

type metrics struct {
	messages    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	deadLetters *prometheus.CounterVec
	webhooks    *prometheus.CounterVec
	trimmed     *prometheus.CounterVec
}

// Label values known when the worker starts. Their series exist from the
// start, at 0: Prometheus's increase() and rate() cannot see a counter's
// first step from absent to 1, so a first dead letter would raise no
// alert (deploy/prometheus). Consumers' series start with their first
// message (handled).
var (
	outcomes        = []string{"ok", "retry", "failed"}
	webhookOutcomes = []string{"delivered", "failed", "circuit_open", "endpoint_disabled"}
)

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		messages: promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_worker_messages_total",
			Help: "Messages handled by the worker, by consumer and outcome (ok, retry, failed).",
		}, []string{"consumer", "outcome"}), log),
		duration: promreg.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "outrider_worker_handle_seconds",
			Help:    "Time to handle one message, by consumer.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"consumer"}), log),
		deadLetters: promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_worker_dead_letters_total",
			Help: "Messages moved to the dead-letter stream, by consumer.",
		}, []string{"consumer"}), log),
		webhooks: promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_webhook_attempts_total",
			Help: "Webhook delivery attempts by outcome (delivered, failed, circuit_open, endpoint_disabled).",
		}, []string{"outcome"}), log),
		trimmed: promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_retention_deleted_total",
			Help: "Rows the worker deleted past their retention, by data (location_history, read_notifications, refresh_tokens, idempotency_keys, login_failures).",
		}, []string{"data"}), log),
	}
	for _, o := range webhookOutcomes {
		m.webhooks.WithLabelValues(o)
	}
	return m
}

func (m *metrics) handled(consumer string, err error, d time.Duration) {
	outcome := "ok"
	var ra retryAfter
	switch {
	case err == nil:
	case errors.As(err, &ra):
		outcome = "retry"
	default:
		outcome = "failed"
	}
	for _, o := range outcomes {
		m.messages.WithLabelValues(consumer, o)
	}
	m.deadLetters.WithLabelValues(consumer)
	m.messages.WithLabelValues(consumer, outcome).Inc()
	m.duration.WithLabelValues(consumer).Observe(d.Seconds())
}

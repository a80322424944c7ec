package bus

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outrider/outrider/internal/promreg"
)

// metrics are the relay's Prometheus collectors.
type metrics struct {
	lag        prometheus.Histogram
	published  prometheus.Counter
	duplicates prometheus.Counter
	errors     *prometheus.CounterVec
	leader     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, logger *slog.Logger) *metrics {
	m := &metrics{
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "outrider", Subsystem: "outbox", Name: "publish_lag_seconds",
			Help:    "Time from an event (its outbox row's At) to JetStream acknowledging its first copy.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "outrider", Subsystem: "outbox", Name: "published_total",
			Help: "Outbox messages stored by JetStream (first copies; re-publishes count as duplicates).",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "outrider", Subsystem: "outbox", Name: "publish_duplicates_total",
			Help: "Re-published outbox messages that JetStream recognised by Nats-Msg-Id and dropped (after a crash, a failed mark or a leadership overlap).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "outrider", Subsystem: "outbox", Name: "publish_errors_total",
			Help: "Relay failures by stage (read, publish, mark); the batch is retried.",
		}, []string{"stage"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "outrider", Subsystem: "outbox", Name: "leader",
			Help: "1 while this node's relay holds the outbox leadership, else 0.",
		}),
	}
	if reg != nil {
		m.lag = promreg.Register(reg, m.lag, logger)
		m.published = promreg.Register(reg, m.published, logger)
		m.duplicates = promreg.Register(reg, m.duplicates, logger)
		m.errors = promreg.Register(reg, m.errors, logger)
		m.leader = promreg.Register(reg, m.leader, logger)
	}
	// Every stage's series from the start, at 0: Prometheus's increase()
	// and rate() cannot see a counter's first step from absent to 1, so
	// the first failure would raise no alert (deploy/prometheus).
	for _, stage := range []string{StageRead, StagePublish, StageMark} {
		m.errors.WithLabelValues(stage)
	}
	return m
}

// Collectors returns the relay's Prometheus collectors, for callers that
// register them themselves.
func (r *Relay) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.m.lag, r.m.published, r.m.duplicates, r.m.errors, r.m.leader}
}

package cluster

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outrider/outrider/internal/promreg"
)

// Request outcomes, the values of the "outcome" label of
// outrider_cluster_requests_total.
const (
	OutcomeOK          = "ok"          // the actor replied (a domain rejection is still "ok")
	OutcomeUnavailable = "unavailable" // attempts ran out (ErrUnavailable)
	OutcomeCanceled    = "canceled"    // the caller's context ended first
	OutcomeError       = "error"       // a non-retryable failure (bad reply, not started)
)

// metrics are the node's Prometheus collectors.
type metrics struct {
	requests             *prometheus.CounterVec
	latency              *prometheus.HistogramVec
	retries              *prometheus.CounterVec
	members              prometheus.Gauge
	topologyChanges      prometheus.Counter
	topologyPassivations prometheus.Counter
	failovers            *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, logger *slog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "outrider",
			Subsystem: "cluster",
			Name:      "requests_total",
			Help:      "Requests to cluster actors, by actor kind and final outcome.",
		}, []string{"kind", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "outrider",
			Subsystem: "cluster",
			Name:      "request_duration_seconds",
			Help:      "Time from the first attempt to the final outcome of a cluster request, retries included.",
			Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "outrider",
			Subsystem: "cluster",
			Name:      "request_retries_total",
			Help:      "Attempts repeated after a retryable failure, by actor kind.",
		}, []string{"kind"}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "outrider", Subsystem: "cluster", Name: "members",
			Help: "Members in this node's latest cluster topology (itself included).",
		}),
		topologyChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "outrider", Subsystem: "cluster", Name: "topology_changes_total",
			Help: "Cluster topologies this node has applied (a member joined or left).",
		}),
		topologyPassivations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "outrider", Subsystem: "cluster", Name: "topology_passivations_total",
			Help: "Activations this node passivated because a topology change gave their identity to another member.",
		}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "outrider", Subsystem: "cluster", Name: "request_failovers_total",
			Help: "Request attempts abandoned because the member they waited on left the cluster, by actor kind.",
		}, []string{"kind"}),
	}
	if reg == nil {
		return m
	}
	m.members = promreg.Register(reg, m.members, logger)
	m.topologyChanges = promreg.Register(reg, m.topologyChanges, logger)
	m.topologyPassivations = promreg.Register(reg, m.topologyPassivations, logger)
	m.failovers = promreg.Register(reg, m.failovers, logger)
	m.requests = promreg.Register(reg, m.requests, logger)
	m.latency = promreg.Register(reg, m.latency, logger)
	m.retries = promreg.Register(reg, m.retries, logger)
	return m
}

// Collectors returns the node's Prometheus collectors, for callers that
// register them themselves instead of through Config.Registerer.
func (n *Node) Collectors() []prometheus.Collector {
	return []prometheus.Collector{n.metrics.requests, n.metrics.latency, n.metrics.retries,
		n.metrics.members, n.metrics.topologyChanges, n.metrics.topologyPassivations, n.metrics.failovers}
}

// Package promreg registers Prometheus collectors the way every Outrider
// component wants: reuse the collector already registered under the same
// name, so several nodes or workers in one process (tests) share a
// registry and add to the same series.
package promreg

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c in reg and returns it, or returns the collector
// of the same type already registered under c's name. Any other failure
// is logged and c is returned unregistered: metrics never stop a node.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C, logger *slog.Logger) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	logger.Warn("cannot register metric", slog.Any("error", err))
	return c
}

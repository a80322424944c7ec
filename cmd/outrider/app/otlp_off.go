//go:build !otlp

package app

import (
	"context"
	"errors"
	"log/slog"
)

// OTLPBuilt says whether this binary can export traces: this one was
// built without -tags otlp (`make run`'s quick build leaves the exporter
// out; `make build`, `make serve` and the Dockerfile put it in).
const OTLPBuilt = false

// errNoOTLP: an endpoint was set on a binary without the exporter.
var errNoOTLP = errors.New("this binary was built without the OTLP exporter: build it with -tags otlp (make build) to export traces")

func startTracing(endpoint, _ string, _ float64, _ *slog.Logger) (func(context.Context) error, error) {
	return nil, errNoOTLP
}

//go:build otlp

package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// OTLPBuilt says whether this binary can export traces (built with
// -tags otlp, as `make build`, `make serve` and the Dockerfile do).
const OTLPBuilt = true

// startTracing exports spans over OTLP/HTTP (protobuf) to endpoint, a
// collector's base URL such as http://otel-collector:4318 (the exporter
// posts to /v1/traces under it), and installs the provider as
// OpenTelemetry's global one. sampler is the ratio of new traces kept;
// a traced caller's decision is followed (parent-based). The returned
// function flushes and stops the export.
func startTracing(endpoint, node string, ratio float64, log *slog.Logger) (func(context.Context) error, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("otlp endpoint %q: want http(s)://host:port", endpoint)
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(u.JoinPath("v1", "traces").String()))
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "outrider"), attribute.String("service.instance.id", node))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))))
	otel.SetTracerProvider(tp)
	log.Info("exporting traces over OTLP", slog.String("endpoint", u.String()), slog.Float64("sample_ratio", ratio))
	return tp.Shutdown, nil
}

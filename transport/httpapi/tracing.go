package httpapi

import (
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrider/outrider/internal/tracing"
)

// startSpan starts the server span of a request, "POST /v1/orders" (the
// route, not the path, so ids do not make every name new), as a child of
// the caller's span when the request carries a W3C traceparent header,
// and returns the request with the span in its context: the cluster
// requests the handler makes carry it to the actors (internal/tracing).
// Probes and scrapes (/healthz, /readyz, /metrics) get none.
func startSpan(r *http.Request, method, route string) (*http.Request, trace.Span) {
	ctx := tracing.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := tracing.Start(ctx, method+" "+route, trace.SpanKindServer,
		attribute.String("http.request.method", method), attribute.String("http.route", route))
	return r.WithContext(ctx), span
}

// endSpan records the answer's status on span and ends it; a 5xx is an
// error of the span, a 4xx the caller's (OpenTelemetry's HTTP server
// conventions).
func endSpan(span trace.Span, status int) {
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	span.End()
}

// Package tracing carries OpenTelemetry trace context across the places
// where Outrider's work changes hands: an HTTP request, a cluster request
// to an actor (the command's traceparent field), the actor's commit, the
// outbox row the commit writes, the relay's publish to NATS (the message's
// traceparent header), and the worker or gateway that consumes it. One
// order placement is then one trace from the HTTP request to the
// notification the worker commits.
//
// Spans go to the global TracerProvider (otel.SetTracerProvider), which
// is OpenTelemetry's no-op one unless the node exports traces
// (OUTRIDER_OTLP_ENDPOINT) or a test installs a recording one. With the
// no-op provider no span context is valid, so nothing is injected, and
// work with no traced parent (location fixes, a scheduler's round) starts
// no span at all: untraced traffic pays for a few function calls.
//
// Context travels as a W3C traceparent string (propagation.TraceContext),
// the same format on every hop.
package tracing

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of Outrider's spans.
const Name = "github.com/outrider/outrider"

// Header is the W3C trace context header, in HTTP and in NATS messages.
const Header = "traceparent"

var propagator = propagation.TraceContext{}

// Tracer is Outrider's tracer on the global provider.
func Tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(Name) }

// Start starts a span named name as a child of ctx's span.
func Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return Tracer().Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// StartIfTraced starts a span only when ctx carries a valid span context
// (a traced parent); otherwise it returns ctx and a no-op span.
func StartIfTraced(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return Start(ctx, name, kind, attrs...)
}

// End records err on span (if any) and ends it.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Traceparent is ctx's span context as a W3C traceparent value, "" when
// ctx carries no valid span context.
func Traceparent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c[Header]
}

// FromTraceparent returns ctx with the remote span context tp names; ctx
// unchanged when tp is empty or malformed.
func FromTraceparent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{Header: tp})
}

// Extract returns ctx with the span context carrier holds (HTTP headers:
// propagation.HeaderCarrier), if any.
func Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return propagator.Extract(ctx, carrier)
}

// SetNATS puts tp into m's headers; nothing when tp is empty.
func SetNATS(m *nats.Msg, tp string) {
	if tp == "" {
		return
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header.Set(Header, tp)
}

// FromNATS returns ctx with the span context of a NATS message's
// traceparent header, if it has one.
func FromNATS(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return FromTraceparent(ctx, h.Get(Header))
}

package host

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/internal/tracing"
)

// startTrace starts the span of handling cmd when its caller was traced
// (the command's traceparent field, which cluster.Request sets): "actor
// order assign", a child of the caller's span. It returns nil, and costs
// one field read, for an untraced command.
func (e *entity[S, C]) startTrace(cmd C) trace.Span {
	m := cmd.ProtoReflect()
	f := m.Descriptor().Fields().ByName("traceparent")
	if f == nil {
		return nil
	}
	tp := m.Get(f).String()
	if tp == "" {
		return nil
	}
	name := "actor " + e.m.kind
	if o := m.Descriptor().Oneofs().ByName("body"); o != nil {
		if b := m.WhichOneof(o); b != nil {
			name += " " + string(b.Name())
		}
	}
	ctx := tracing.FromTraceparent(context.Background(), tp)
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	ctx, span := tracing.Start(ctx, name, trace.SpanKindServer,
		attribute.String("outrider.kind", e.m.kind), attribute.String("outrider.identity", e.id))
	e.trace = ctx
	return span
}

// traceCommit starts the span of commit when the command is traced, and
// stamps the commit's outbox messages and kicked deadlines with it, so
// the relay's publish and the worker's or gateway's handling, and a
// dispatch round kicked by this commit, join the same trace. nil when
// the command is not traced.
func (e *entity[S, C]) traceCommit(c *actors.Commit) trace.Span {
	if e.trace == nil {
		return nil
	}
	ctx, span := tracing.Start(e.trace, "commit "+e.m.kind, trace.SpanKindInternal,
		attribute.Int("outrider.events", len(c.Events)), attribute.Int("outrider.outbox", len(c.Outbox)))
	tp := tracing.Traceparent(ctx)
	for i := range c.Outbox {
		c.Outbox[i].Trace = tp
	}
	for i := range c.Deadlines {
		c.Deadlines[i].Trace = tp
	}
	return span
}

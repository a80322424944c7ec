// Package tracing_test shows one order placement as one connected trace:
// the HTTP request, the cluster request, the order actor and its commit,
// the outbox relay's publish to NATS, and the worker that turns the event
// into notifications (internal/tracing). It installs a recording
// TracerProvider as OpenTelemetry's global one, so it lives in a package
// of its own.
package tracing_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

func TestOnePlacementIsOneConnectedTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	_, a := e2e.Up(t, nil)
	customer := a.Signup(t)

	// The caller is traced: its span is the root of everything the
	// placement causes.
	const traceID = "5b8efff798038103d269b633813fc60c"
	const callerSpan = "eee19b7ec3c1b174"
	// The admin places it for the customer, whom the worker notifies.
	body := e2e.ValidOrder()
	body["customer_id"] = customer.ID()
	r := a.Admin.Post(t, "/v1/orders", body, e2e.Header("traceparent", fmt.Sprintf("00-%s-%s-01", traceID, callerSpan)))
	var o wire.Order
	r.Decode(t, http.StatusCreated, &o)

	// The notification is written by the worker after the relay: wait for
	// its span.
	ofTrace := func() []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID().String() == traceID {
				out = append(out, s)
			}
		}
		return out
	}
	var spans []sdktrace.ReadOnlySpan
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(15 * time.Second); ; <-tick.C {
		spans = ofTrace()
		if slices.ContainsFunc(spans, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "notifications.create" }) {
			break
		}
		if time.Now().After(deadline) {
			var all []string
			for _, s := range spans {
				all = append(all, s.Name())
			}
			t.Fatalf("no notifications.create span in trace %s; its spans: %q", traceID, all)
		}
	}

	names := make([]string, 0, len(spans))
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		names = append(names, s.Name())
		byID[s.SpanContext().SpanID()] = s
	}
	// Every stage, each a span of the same trace.
	for _, want := range []string{
		"POST /v1/orders",       // the HTTP request
		"cluster.request order", // the API's request to the order actor
		"actor order create",    // the actor handling it
		"commit order",          // its commit (journal, read model, outbox)
		"outbox.relay",          // the relay's publish of the commit's event
		"worker notifications",  // the worker consuming it
		"notifications.create",  // and writing the notifications
	} {
		require.True(t, slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, want) }),
			"no span %q in the trace; have %q", want, names)
	}
	// Connected: every span's parent is a span of the trace, or the
	// caller's span, so the spans form one tree under the caller.
	for _, s := range spans {
		p := s.Parent().SpanID().String()
		if p == callerSpan {
			continue
		}
		_, ok := byID[s.Parent().SpanID()]
		require.True(t, ok, "span %q has parent %s, which is not in the trace", s.Name(), p)
	}
	// And the chain runs in causal order: the relay's span descends from
	// the commit's, the worker's from the relay's.
	ancestor := func(s sdktrace.ReadOnlySpan, prefix string) bool {
		for p, ok := byID[s.Parent().SpanID()]; ok; p, ok = byID[p.Parent().SpanID()] {
			if strings.HasPrefix(p.Name(), prefix) {
				return true
			}
		}
		return false
	}
	for _, s := range spans {
		switch {
		case s.Name() == "outbox.relay":
			require.True(t, ancestor(s, "commit order"), "relay span %q not under the commit", s.Name())
		case s.Name() == "worker notifications":
			require.True(t, ancestor(s, "outbox.relay"), "worker span not under the relay")
			require.True(t, ancestor(s, "POST /v1/orders"), "worker span not under the HTTP request")
		}
	}
}

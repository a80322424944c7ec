//go:build otlp

package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/internal/tracing"
)

// With an endpoint, spans reach an OTLP/HTTP collector at /v1/traces,
// named by the node's service name and instance.
func TestOTLPExport(t *testing.T) {
	got := make(chan *coltrace.ExportTraceServiceRequest, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected "+r.URL.Path+" "+r.Header.Get("Content-Type"), http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		req := &coltrace.ExportTraceServiceRequest{}
		require.NoError(t, proto.Unmarshal(body, req))
		got <- req
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	defer srv.Close()
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	shutdown, err := startTracing(srv.URL, "node-a", 1, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	_, span := tracing.Start(context.Background(), "test.span", 0)
	span.End()
	require.NoError(t, shutdown(context.Background())) // flushes

	req := <-got
	require.Len(t, req.ResourceSpans, 1)
	attrs := map[string]string{}
	for _, kv := range req.ResourceSpans[0].Resource.Attributes {
		attrs[kv.Key] = kv.Value.GetStringValue()
	}
	require.Equal(t, "outrider", attrs["service.name"])
	require.Equal(t, "node-a", attrs["service.instance.id"])
	require.Equal(t, "test.span", req.ResourceSpans[0].ScopeSpans[0].Spans[0].Name)
}

func TestOTLPEndpointRefused(t *testing.T) {
	for _, bad := range []string{"otel:4318", "ftp://otel:4318", "http://"} {
		_, err := startTracing(bad, "n", 1, slog.New(slog.DiscardHandler))
		require.Error(t, err, bad)
	}
}

package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// Issue #14, finding 9: a request the client cancelled was counted as a
// 503 in outrider_http_requests_total, beside the node's own failures. It
// is counted apart, as 499; a failure of a request still waited for stays
// a 503.
func TestCancelledRequestsAreCountedApart(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{JWTSecret: []byte(strings.Repeat("k", 32)), BcryptCost: 4}, Deps{Registry: reg})
	require.NoError(t, err)
	started := make(chan struct{}, 1)
	// A route that fails with unavailable once its request's context
	// ends, or at once when asked to.
	h := s.chain(http.MethodGet, "/test/wait", public, func(w http.ResponseWriter, r *http.Request, c *call) error {
		if r.URL.Query().Get("now") != "" {
			return unavailable(context.DeadlineExceeded)
		}
		started <- struct{}{}
		<-r.Context().Done()
		return unavailable(r.Context().Err())
	})
	count := func(status string) float64 {
		return testutil.ToFloat64(s.metrics.requests.WithLabelValues("/test/wait", http.MethodGet, status))
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/test/wait", nil).WithContext(ctx), httprouter.Params{})
	}()
	<-started
	cancel() // the client closes the connection
	<-done
	h(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/test/wait?now=1", nil), httprouter.Params{})

	require.Equal(t, 1.0, count("499"), "the cancelled request")
	require.Equal(t, 1.0, count("503"), "the request that failed while its client waited")
}

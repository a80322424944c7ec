package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/transport/httpapi"
)

// logLine is one record a captureHandler kept.
type logLine struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

// captureHandler keeps every record at every level, for tests that read
// the log.
type captureHandler struct {
	mu    *sync.Mutex
	lines *[]logLine
}

func newCapture() (*slog.Logger, func() []logLine) {
	h := &captureHandler{mu: &sync.Mutex{}, lines: &[]logLine{}}
	return slog.New(h), func() []logLine {
		h.mu.Lock()
		defer h.mu.Unlock()
		return append([]logLine(nil), *h.lines...)
	}
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *captureHandler) WithGroup(string) slog.Handler            { return h }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	l := logLine{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		l.attrs[a.Key] = a.Value.Any()
		return true
	})
	h.mu.Lock()
	*h.lines = append(*h.lines, l)
	h.mu.Unlock()
	return nil
}

// accessLine is the access log line of the request with id.
func accessLine(t *testing.T, lines []logLine, id string) logLine {
	t.Helper()
	var found []logLine
	for _, l := range lines {
		if (l.msg == "http request" || l.msg == "websocket upgrade") && l.attrs["request_id"] == id {
			found = append(found, l)
		}
	}
	require.Len(t, found, 1, "access lines of request %s among %v", id, lines)
	return found[0]
}

func fromAddr(addr string) handlerOpt { return func(r *http.Request) { r.RemoteAddr = addr } }

// problemRequestID is the request_id member of a problem+json body.
func problemRequestID(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var p struct {
		RequestID string `json:"request_id"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), rec.Body.String())
	return p.RequestID
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestAccessLog: one line per request, at the level its status says,
// with the route pattern (not the path with its ids), the problem code of
// a refusal and the id that the answer's header and problem body carry.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	log, lines := newCapture()
	h, b := setupHandlersWith(t, func(_ *httpapi.Config, d *httpapi.Deps) { d.Logger = log })

	t.Run("4xx at info with its code", func(t *testing.T) {
		rec := serve(t, h, http.MethodGet, "/v1/orders/ord_01ARZ3NDEKTSV4RRFFQ69G5FAV", "", "", nil)
		requireProblem(t, rec, http.StatusUnauthorized, "unauthorized")
		id := rec.Header().Get("X-Request-Id")
		require.Regexp(t, generatedID, id)
		require.Equal(t, id, problemRequestID(t, rec))
		l := accessLine(t, lines(), id)
		require.Equal(t, slog.LevelInfo, l.level)
		require.Equal(t, "unauthorized", l.attrs["code"])
		require.Equal(t, "/v1/orders/:id", l.attrs["route"])
		require.EqualValues(t, http.StatusUnauthorized, l.attrs["status"])
		require.Equal(t, "GET", l.attrs["method"])
		require.Equal(t, "192.0.2.1", l.attrs["client"]) // httptest's peer
		require.EqualValues(t, rec.Body.Len(), l.attrs["bytes"])
		require.NotContains(t, l.attrs, "user_id")
	})

	t.Run("authenticated 4xx names the user", func(t *testing.T) {
		rec := b.customer.do(t, h, http.MethodGet, "/v1/orders/ord_01ARZ3NDEKTSV4RRFFQ69G5FAV", "")
		requireProblem(t, rec, http.StatusNotFound, "not_found")
		l := accessLine(t, lines(), problemRequestID(t, rec))
		require.Equal(t, slog.LevelInfo, l.level)
		require.Equal(t, b.customer.user.ID, l.attrs["user_id"])
		require.Equal(t, "not_found", l.attrs["code"])
	})

	t.Run("2xx at debug", func(t *testing.T) {
		rec := b.customer.do(t, h, http.MethodGet, "/v1/me", "")
		require.Equal(t, http.StatusOK, rec.Code)
		l := accessLine(t, lines(), rec.Header().Get("X-Request-Id"))
		require.Equal(t, slog.LevelDebug, l.level)
		require.Equal(t, "/v1/me", l.attrs["route"])
		require.NotContains(t, l.attrs, "code")
	})

	t.Run("5xx at error", func(t *testing.T) {
		// No cluster view on this server: GET /v1/cluster is 503.
		rec := b.admin.do(t, h, http.MethodGet, "/v1/cluster", "")
		requireProblem(t, rec, http.StatusServiceUnavailable, "unavailable")
		l := accessLine(t, lines(), problemRequestID(t, rec))
		require.Equal(t, slog.LevelError, l.level)
		require.Equal(t, "unavailable", l.attrs["code"])
	})

	t.Run("ops routes at debug even when refused", func(t *testing.T) {
		rec := serve(t, h, http.MethodGet, "/healthz", "", "", nil)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, slog.LevelDebug, accessLine(t, lines(), rec.Header().Get("X-Request-Id")).level)
		rec = serve(t, h, http.MethodGet, "/metrics", "", "", []handlerOpt{offSpecReq()})
		require.Equal(t, http.StatusOK, rec.Code)
		l := accessLine(t, lines(), rec.Header().Get("X-Request-Id"))
		require.Equal(t, slog.LevelDebug, l.level)
		require.Equal(t, "/metrics", l.attrs["route"])
	})

	t.Run("no route", func(t *testing.T) {
		// Not in the document: served without checking it.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/nothing", nil))
		requireProblem(t, rec, http.StatusNotFound, "not_found")
		l := accessLine(t, lines(), problemRequestID(t, rec))
		require.Equal(t, "unmatched", l.attrs["route"])
		require.Equal(t, slog.LevelInfo, l.level)
	})
}

// TestRequestIDFromTrustedProxyOnly: X-Request-Id is taken from the
// caller only when the caller is a trusted proxy and the id is sane; it
// is then the answer's header, the problem body's request_id and the log
// line's.
func TestRequestIDFromTrustedProxyOnly(t *testing.T) {
	t.Parallel()
	log, lines := newCapture()
	h, _ := setupHandlersWith(t, func(c *httpapi.Config, d *httpapi.Deps) {
		d.Logger = log
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	for _, tc := range []struct {
		name, peer, sent string
		honoured         bool
	}{
		{"trusted proxy", "10.0.0.2:4000", "lb-7f3a9c", true},
		{"untrusted peer", "198.51.100.9:4000", "lb-7f3a9c", false},
		{"trusted proxy, id too long", "10.0.0.2:4000", strings.Repeat("a", 129), false},
		{"trusted proxy, id with a space", "10.0.0.2:4000", "lb 7f3a9c", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, h, http.MethodGet, "/v1/me", "", "",
				[]handlerOpt{fromAddr(tc.peer), headerReq("X-Request-Id", tc.sent)})
			requireProblem(t, rec, http.StatusUnauthorized, "unauthorized")
			id := rec.Header().Get("X-Request-Id")
			if tc.honoured {
				require.Equal(t, tc.sent, id)
			} else {
				require.NotEqual(t, tc.sent, id)
				require.Regexp(t, generatedID, id)
			}
			require.Equal(t, id, problemRequestID(t, rec))
			accessLine(t, lines(), id)
		})
	}
}

// TestMetricsAddr: with MetricsAddr set, the API's listener answers
// /metrics 404 and the metrics listener serves it; without, the API's
// listener serves it.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	h, _ := setupHandlers(t)
	rec := serve(t, h, http.MethodGet, "/metrics", "", "", []handlerOpt{offSpecReq()})
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "outrider_http_requests_total")

	h, _ = setupHandlersWith(t, func(c *httpapi.Config, _ *httpapi.Deps) {
		c.MetricsAddr = "127.0.0.1:0"
	})
	rec = serve(t, h, http.MethodGet, "/metrics", "", "", []handlerOpt{offSpecReq()})
	requireProblem(t, rec, http.StatusNotFound, "not_found")

	srv, err := httpapi.New(httpapi.Config{JWTSecret: []byte("0123456789abcdef0123456789abcdef"), MetricsAddr: "127.0.0.1:0"}, httpapi.Deps{})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv.ServeMetrics(ln)
	t.Cleanup(func() { require.NoError(t, srv.Stop(context.Background())) })
	resp, err := http.Get("http://" + srv.MetricsAddr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("X-Request-Id"))
	resp2, err := http.Get("http://" + srv.MetricsAddr() + "/v1/me")
	require.NoError(t, err)
	resp2.Body.Close()
	require.Equal(t, http.StatusNotFound, resp2.StatusCode, "the metrics listener serves /metrics only")
}

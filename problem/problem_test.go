package problem_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/problem"
)

// TestCatalogue: every code has one entry at its own index, a unique
// snake_case name that Lookup finds, and either an HTTP error status with
// a title or (frame-only codes) neither.
func TestCatalogue(t *testing.T) {
	t.Parallel()
	name := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	seen := map[string]bool{}
	entries := problem.Entries()
	require.NotEmpty(t, entries)
	for i, e := range entries {
		require.Equal(t, problem.Code(i+1), e.Code, "entry %d (%s) is not at its code's index", i, e.Name)
		require.True(t, e.Code.Valid())
		require.Regexp(t, name, e.Name)
		require.False(t, seen[e.Name], "%s is listed twice", e.Name)
		seen[e.Name] = true
		c, ok := problem.Lookup(e.Name)
		require.True(t, ok, e.Name)
		require.Equal(t, e.Code, c)
		require.Equal(t, e.Name, c.String())
		if e.Status == 0 {
			require.Empty(t, e.Title, e.Name)
			continue
		}
		require.GreaterOrEqual(t, e.Status, 400, e.Name)
		require.NotEmpty(t, http.StatusText(e.Status), e.Name)
		require.NotEmpty(t, e.Title, e.Name)
	}
	_, ok := problem.Lookup("unavailble")
	require.False(t, ok)
	require.False(t, problem.Code(0).Valid())
}

func TestCodeMarshalsAsItsName(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(struct {
		Code problem.Code `json:"code"`
	}{problem.TooManySubscriptions})
	require.NoError(t, err)
	require.Equal(t, `{"code":"too_many_subscriptions"}`, string(b))
	_, err = json.Marshal(problem.Code(0))
	require.Error(t, err)
}

// TestWrite pins the wire: headers, status and body bytes.
func TestWrite(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	problem.Write(rec, problem.Details{Code: problem.RateLimited, Detail: "slow down", Instance: "/v1/orders",
		Errors: []problem.FieldError{{Field: "a", Message: "b"}}, RetryAfter: 3})
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.Equal(t, http.Header{"Content-Type": {"application/problem+json"}, "Cache-Control": {"no-store"},
		"Retry-After": {"3"}}, rec.Header())
	require.Equal(t, `{"type":"https://outrider.dev/problems/rate_limited","title":"Too many requests","status":429,`+
		`"detail":"slow down","code":"rate_limited","instance":"/v1/orders","errors":[{"field":"a","message":"b"}]}`+"\n",
		rec.Body.String())

	rec = httptest.NewRecorder()
	problem.WriteHeader(rec, problem.Details{Code: problem.NotFound, Detail: "x"})
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Empty(t, rec.Body.String())
	require.Empty(t, rec.Header().Get("Retry-After"))

	// A frame-only code has no HTTP status: answered as internal.
	rec = httptest.NewRecorder()
	problem.Write(rec, problem.Details{Code: problem.UnknownType, Detail: "x"})
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Contains(t, rec.Body.String(), `"code":"internal"`)
}

func TestWriteUpgradeRefusal(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	problem.WriteUpgradeRefusal(rec, problem.Unavailable, "retry")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, http.Header{"Content-Type": {"application/problem+json"}}, rec.Header())
	require.Equal(t, `{"code":"unavailable","detail":"retry","status":503,"title":"Service Unavailable",`+
		`"type":"https://outrider.dev/problems/unavailable"}`+"\n", rec.Body.String())
}

// TestRequestID: a problem body names its request: Details.RequestID, or
// else the answer's X-Request-Id header (set by the API's middleware for
// bodies written elsewhere, such as the WebSocket gateway's refusals).
func TestRequestID(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	problem.Write(rec, problem.Details{Code: problem.NotFound, RequestID: "given"})
	require.Contains(t, rec.Body.String(), `"request_id":"given"`)

	rec = httptest.NewRecorder()
	rec.Header().Set(problem.RequestIDHeader, "from-header")
	problem.Write(rec, problem.Details{Code: problem.NotFound})
	require.Contains(t, rec.Body.String(), `"request_id":"from-header"`)

	rec = httptest.NewRecorder()
	problem.Write(rec, problem.Details{Code: problem.NotFound})
	require.NotContains(t, rec.Body.String(), "request_id")

	rec = httptest.NewRecorder()
	rec.Header().Set(problem.RequestIDHeader, "ws-1")
	problem.WriteUpgradeRefusal(rec, problem.Unavailable, "retry")
	require.Equal(t, `{"code":"unavailable","detail":"retry","request_id":"ws-1","status":503,"title":"Service Unavailable",`+
		`"type":"https://outrider.dev/problems/unavailable"}`+"\n", rec.Body.String())
}

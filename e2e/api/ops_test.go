package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/httpapi/openapi"
)

const allowedOrigin = "https://app.outrider.test"

var corsHeaders = []string{
	"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
	"Access-Control-Expose-Headers", "Access-Control-Max-Age", "Access-Control-Allow-Credentials",
}

func requireNoCORS(t *testing.T, r *e2e.Response) {
	t.Helper()
	for _, h := range corsHeaders {
		require.Empty(t, r.Header.Values(h), "%s: %s must not be set", r, h)
	}
}

// TestCORSAndOps runs a node that allows one browser origin, and checks
// CORS and the operational endpoints.
func TestCORSAndOps(t *testing.T) {
	_, a := e2e.Up(t, func(c *app.Config) { c.HTTP.CORSOrigins = []string{allowedOrigin} })
	customer := a.Signup(t)

	t.Run("allowed origin", func(t *testing.T) {
		t.Parallel()
		for _, r := range []*e2e.Response{
			customer.Get(t, "/v1/me", e2e.Header("Origin", allowedOrigin)),
			a.Anon().Get(t, "/healthz", e2e.Header("Origin", allowedOrigin)),
			a.Anon().Get(t, "/v1/me", e2e.Header("Origin", allowedOrigin)), // errors too, so the page can read them
		} {
			require.Equal(t, allowedOrigin, r.Header.Get("Access-Control-Allow-Origin"), "%s", r)
			require.Contains(t, r.Header.Values("Vary"), "Origin", "%s", r)
			expose := r.Header.Get("Access-Control-Expose-Headers")
			for _, h := range []string{"Location", "Retry-After", "Idempotent-Replayed"} {
				require.Contains(t, expose, h, "%s", r)
			}
		}
		r := customer.Post(t, "/v1/orders", e2e.ValidOrder(), e2e.Header("Origin", allowedOrigin))
		r.RequireStatus(t, http.StatusCreated)
		require.Equal(t, allowedOrigin, r.Header.Get("Access-Control-Allow-Origin"))
	})

	t.Run("preflight", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ path, method string }{
			{"/v1/orders", "POST"}, {"/v1/orders/" + e2e.NonexistentID("ord") + "/status", "PUT"}, {"/v1/me", "GET"},
		} {
			r := a.Anon().Do(t, http.MethodOptions, tc.path, nil, e2e.OffSpec(),
				e2e.Header("Origin", allowedOrigin), e2e.Header("Access-Control-Request-Method", tc.method),
				e2e.Header("Access-Control-Request-Headers", "authorization, content-type, idempotency-key"))
			r.RequireStatus(t, http.StatusNoContent)
			require.Empty(t, r.Body)
			require.Equal(t, allowedOrigin, r.Header.Get("Access-Control-Allow-Origin"))
			// Every method the API uses (the OpenAPI document's), so a
			// page on another origin can call every route (PATCH too).
			methods := strings.Split(r.Header.Get("Access-Control-Allow-Methods"), ", ")
			for _, m := range documentMethods(t) {
				require.Contains(t, methods, m, "%s", r)
			}
			allowed := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
			for _, h := range []string{"authorization", "content-type", "idempotency-key"} {
				require.Contains(t, allowed, h)
			}
			require.NotEmpty(t, r.Header.Get("Access-Control-Max-Age"))
		}
	})

	t.Run("other origins get no CORS headers", func(t *testing.T) {
		t.Parallel()
		for _, origin := range []string{"https://evil.example", "null", "https://app.outrider.test.evil.example", "http://app.outrider.test", strings.ToUpper(allowedOrigin)} {
			requireNoCORS(t, customer.Get(t, "/v1/me", e2e.Header("Origin", origin)).RequireStatus(t, http.StatusOK))
			requireNoCORS(t, a.Anon().Get(t, "/v1/me", e2e.Header("Origin", origin)))
			pre := a.Anon().Do(t, http.MethodOptions, "/v1/orders", nil, e2e.OffSpec(),
				e2e.Header("Origin", origin), e2e.Header("Access-Control-Request-Method", "POST"),
				e2e.Header("Access-Control-Request-Headers", "authorization, content-type"))
			requireNoCORS(t, pre)
			require.NotEqual(t, http.StatusNoContent, pre.Status, "%s", pre)
		}
		// No Origin: a same-origin or non-browser request, no CORS headers.
		requireNoCORS(t, customer.Get(t, "/v1/me"))
	})

	t.Run("healthz", func(t *testing.T) {
		t.Parallel()
		var h map[string]any
		a.Anon().Get(t, "/healthz").Decode(t, http.StatusOK, &h)
		require.Equal(t, map[string]any{"status": "ok"}, h)
	})

	t.Run("readyz", func(t *testing.T) {
		t.Parallel()
		var r struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		a.Anon().Get(t, "/readyz").Decode(t, http.StatusOK, &r)
		require.Equal(t, "ok", r.Status)
		// The dependencies: the cluster and storage (named by backend).
		require.Contains(t, r.Checks, "cluster")
		require.GreaterOrEqual(t, len(r.Checks), 2, "%v", r.Checks)
		for name, v := range r.Checks {
			require.Equal(t, "ok", v, name)
		}
	})

	t.Run("openapi.json", func(t *testing.T) {
		t.Parallel()
		r := a.Anon().Get(t, "/v1/openapi.json")
		r.RequireStatus(t, http.StatusOK)
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
		require.Equal(t, openapi.Document(), r.Body)
		var doc struct {
			OpenAPI string         `json:"openapi"`
			Paths   map[string]any `json:"paths"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &doc))
		require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1."), doc.OpenAPI)
		require.Contains(t, doc.Paths, "/v1/orders")
	})

	t.Run("metrics", func(t *testing.T) {
		t.Parallel()
		o := customer.CreateOrder(t)
		customer.Order(t, o.ID)
		a.Anon().Get(t, "/healthz").RequireStatus(t, http.StatusOK)
		r := a.Anon().Get(t, "/metrics")
		r.RequireStatus(t, http.StatusOK)
		require.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain"), r.Header.Get("Content-Type"))
		text := string(r.Body)
		for _, want := range []string{
			"# TYPE outrider_http_requests_total counter",
			`outrider_http_requests_total{method="POST",route="/v1/orders",status="201"}`,
			`outrider_http_requests_total{method="GET",route="/v1/orders/:id",status="`,
			`outrider_http_requests_total{method="GET",route="/healthz",status="200"}`,
			"# TYPE outrider_http_request_duration_seconds histogram",
			"# TYPE outrider_actor_activations_total counter",
			`outrider_actor_activations_total{kind="order"}`,
			"go_goroutines",
		} {
			require.Contains(t, text, want)
		}
	})
}

// documentMethods are the HTTP methods of the OpenAPI document's
// operations, upper case.
func documentMethods(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openapi.Document(), &doc))
	var out []string
	for _, ops := range doc.Paths {
		for m := range ops {
			switch m {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				if u := strings.ToUpper(m); !slices.Contains(out, u) {
					out = append(out, u)
				}
			}
		}
	}
	require.Contains(t, out, "PATCH", "the document has PATCH routes (webhooks, users, drivers)")
	return out
}

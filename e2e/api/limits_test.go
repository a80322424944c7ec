package api_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// requireRateLimited checks a 429 rate_limited problem+json with a
// Retry-After of at least a second. The problem's shape is checked here
// too: the client leaves it to the caller on /healthz and /readyz.
func requireRateLimited(t *testing.T, r *e2e.Response) {
	t.Helper()
	p := r.Problem(t, http.StatusTooManyRequests, "rate_limited")
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"), "%s", r)
	require.Equal(t, http.StatusTooManyRequests, p.Status, "%s", r)
	require.Equal(t, "https://outrider.dev/problems/rate_limited", p.Type, "%s", r)
	require.NotEmpty(t, p.Title, "%s", r)
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "%s: Retry-After %q", r, r.Header.Get("Retry-After"))
	require.GreaterOrEqual(t, secs, 1, "%s", r)
}

// TestRateLimits runs a node with tiny buckets: 4 requests, then one
// every 20 s per client (user, or IP when anonymous); 3 signups, logins or
// refreshes, then one every 100 s, per IP. TrustProxy lets the test speak
// from several IPs through X-Forwarded-For.
func TestRateLimits(t *testing.T) {
	const burst, authBurst = 4, 3
	_, a := e2e.Up(t, func(c *app.Config) {
		c.HTTP.RatePerSecond, c.HTTP.RateBurst = 0.05, burst
		c.HTTP.AuthRatePerSecond, c.HTTP.AuthRateBurst = 0.01, authBurst
		c.HTTP.TrustProxy = true
	})
	// Each subtest speaks from its own addresses, so they may run at once.

	t.Run("per user", func(t *testing.T) {
		t.Parallel()
		alice := a.SignupAs(t, a.Anon().With("X-Forwarded-For", "10.0.1.1"))
		bob := a.SignupAs(t, a.Anon().With("X-Forwarded-For", "10.0.1.2"))
		for range burst {
			alice.Get(t, "/v1/me").RequireStatus(t, http.StatusOK)
		}
		requireRateLimited(t, alice.Get(t, "/v1/me"))
		// A write is limited too, and creates nothing.
		requireRateLimited(t, alice.Post(t, "/v1/orders", e2e.ValidOrder()))
		requireRateLimited(t, alice.Post(t, "/v1/orders", e2e.ValidOrder(), e2e.Header("Idempotency-Key", "k1")))
		// The limit follows the user, not the address: from elsewhere
		// Alice is still limited, and Bob (another user) is not.
		requireRateLimited(t, alice.With("X-Forwarded-For", "10.0.1.9").Get(t, "/v1/me"))
		bob.Get(t, "/v1/me").RequireStatus(t, http.StatusOK)
		bob.With("X-Forwarded-For", "10.0.1.1").Get(t, "/v1/me").RequireStatus(t, http.StatusOK)
		// Anonymous requests from Alice's address count against the
		// address, not against Alice.
		a.Anon().With("X-Forwarded-For", "10.0.1.1").Get(t, "/healthz").RequireStatus(t, http.StatusOK)
	})

	t.Run("per address when anonymous", func(t *testing.T) {
		t.Parallel()
		anon := a.Anon().With("X-Forwarded-For", "10.0.2.1")
		for range burst {
			anon.Get(t, "/healthz").RequireStatus(t, http.StatusOK)
		}
		requireRateLimited(t, anon.Get(t, "/healthz"))
		requireRateLimited(t, anon.Get(t, "/v1/openapi.json"))
		// The first address of the list is the client's.
		requireRateLimited(t, a.Anon().With("X-Forwarded-For", "10.0.2.1, 192.0.2.7").Get(t, "/readyz"))
		a.Anon().With("X-Forwarded-For", "10.0.2.2").Get(t, "/healthz").RequireStatus(t, http.StatusOK)
		a.Anon().With("X-Forwarded-For", "192.0.2.7, 10.0.2.1").Get(t, "/healthz").RequireStatus(t, http.StatusOK)
	})

	t.Run("login per address", func(t *testing.T) {
		t.Parallel()
		victim := a.SignupAs(t, a.Anon().With("X-Forwarded-For", "10.0.3.1"))
		guesser := a.Anon().With("X-Forwarded-For", "10.0.3.2")
		for range authBurst {
			guesser.Post(t, "/v1/auth/login", map[string]string{"email": victim.User.Email, "password": "guess-guess"}).
				Problem(t, http.StatusUnauthorized, "unauthorized")
		}
		// Even the right password is refused now, from that address.
		requireRateLimited(t, guesser.Post(t, "/v1/auth/login", map[string]string{"email": victim.User.Email, "password": victim.Password}))
		requireRateLimited(t, guesser.Post(t, "/v1/auth/refresh", map[string]string{"refresh_token": victim.Refresh}))
		// Another address logs in; the guesser's address may still use
		// the rest of the API.
		a.Anon().With("X-Forwarded-For", "10.0.3.3").Post(t, "/v1/auth/login",
			map[string]string{"email": victim.User.Email, "password": victim.Password}).RequireStatus(t, http.StatusOK)
		guesser.Get(t, "/healthz").RequireStatus(t, http.StatusOK)
		// The refused refresh did not spend the token.
		var tok wire.Tokens
		a.Anon().With("X-Forwarded-For", "10.0.3.4").Post(t, "/v1/auth/refresh", map[string]string{"refresh_token": victim.Refresh}).
			Decode(t, http.StatusOK, &tok)
	})

	t.Run("signup per address", func(t *testing.T) {
		t.Parallel()
		from := a.Anon().With("X-Forwarded-For", "10.0.4.1")
		for range authBurst {
			a.SignupAs(t, from)
		}
		email := e2e.UniqueEmail("limited")
		requireRateLimited(t, from.Post(t, "/v1/auth/signup", map[string]string{"name": "L", "email": email, "password": "grape-lantern-42"}))
		// Not created: another address can sign up with that e-mail.
		a.Anon().With("X-Forwarded-For", "10.0.4.2").Post(t, "/v1/auth/signup",
			map[string]string{"name": "L", "email": email, "password": "grape-lantern-42"}).RequireStatus(t, http.StatusCreated)
	})
}

// sizedOrder is a create-order body of exactly n bytes (padded in notes).
func sizedOrder(t *testing.T, n int) []byte {
	t.Helper()
	base, err := json.Marshal(orderWith("notes", ""))
	require.NoError(t, err)
	pad := n - len(base)
	require.GreaterOrEqual(t, pad, 0)
	body, err := json.Marshal(orderWith("notes", strings.Repeat("n", pad)))
	require.NoError(t, err)
	require.Len(t, body, n)
	return body
}

// TestMaxBodyBytes runs a node whose body limit is 1 KiB: a body of
// exactly the limit is served, one byte more is refused before it is
// used, with or without Content-Length.
func TestMaxBodyBytes(t *testing.T) {
	const limit = 1024
	_, a := e2e.Up(t, func(c *app.Config) { c.HTTP.MaxBodyBytes = limit })
	customer := a.Signup(t)

	for _, tc := range []struct {
		name string
		opts []e2e.Opt
	}{
		{"content-length", nil},
		{"chunked", []e2e.Opt{e2e.Chunked()}},
		{"keyed", []e2e.Opt{e2e.Header("Idempotency-Key", e2e.Unique("size"))}},
		{"keyed chunked", []e2e.Opt{e2e.Chunked(), e2e.Header("Idempotency-Key", e2e.Unique("size"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.CountOrders(t, customer.User.ID)
			var o wire.Order
			customer.Post(t, "/v1/orders", sizedOrder(t, limit), tc.opts...).Decode(t, http.StatusCreated, &o)
			require.Len(t, o.Notes, limit-len(mustJSON(t, orderWith("notes", ""))))

			p := customer.Post(t, "/v1/orders", sizedOrder(t, limit+1), append([]e2e.Opt{e2e.InvalidRequest()}, tc.opts...)...).
				Problem(t, http.StatusRequestEntityTooLarge, "body_too_large")
			require.Contains(t, p.Detail, strconv.Itoa(limit))
			customer.Post(t, "/v1/orders", sizedOrder(t, 3*limit), append([]e2e.Opt{e2e.InvalidRequest()}, tc.opts...)...).
				Problem(t, http.StatusRequestEntityTooLarge, "body_too_large")
			require.Equal(t, before+1, a.CountOrders(t, customer.User.ID))
		})
	}
	// Other routes share the limit.
	a.Anon().Post(t, "/v1/auth/login", e2e.Raw(`{"email":"a@b.c","password":"`+strings.Repeat("p", limit)+`"}`), e2e.InvalidRequest()).
		Problem(t, http.StatusRequestEntityTooLarge, "body_too_large")
}

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
)

// requireRateLimited checks a 429 rate_limited with a Retry-After of at
// least a second.
func requireRateLimited(t *testing.T, r *response) {
	t.Helper()
	r.problem(t, http.StatusTooManyRequests, "rate_limited")
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
	b := setup(t, func(c *app.Config) {
		c.HTTP.RatePerSecond, c.HTTP.RateBurst = 0.05, burst
		c.HTTP.AuthRatePerSecond, c.HTTP.AuthRateBurst = 0.01, authBurst
		c.HTTP.TrustProxy = true
	})
	// Each subtest speaks from its own addresses, so they may run at once.

	t.Run("per user", func(t *testing.T) {
		t.Parallel()
		alice := b.signupAs(t, b.anon().with("X-Forwarded-For", "10.0.1.1"))
		bob := b.signupAs(t, b.anon().with("X-Forwarded-For", "10.0.1.2"))
		for range burst {
			alice.get(t, "/v1/me").requireStatus(t, http.StatusOK)
		}
		requireRateLimited(t, alice.get(t, "/v1/me"))
		// A write is limited too, and creates nothing.
		requireRateLimited(t, alice.post(t, "/v1/orders", validOrder()))
		requireRateLimited(t, alice.post(t, "/v1/orders", validOrder(), hdr("Idempotency-Key", "k1")))
		// The limit follows the user, not the address: from elsewhere
		// Alice is still limited, and Bob (another user) is not.
		requireRateLimited(t, alice.with("X-Forwarded-For", "10.0.1.9").get(t, "/v1/me"))
		bob.get(t, "/v1/me").requireStatus(t, http.StatusOK)
		bob.with("X-Forwarded-For", "10.0.1.1").get(t, "/v1/me").requireStatus(t, http.StatusOK)
		// Anonymous requests from Alice's address count against the
		// address, not against Alice.
		b.anon().with("X-Forwarded-For", "10.0.1.1").get(t, "/healthz").requireStatus(t, http.StatusOK)
	})

	t.Run("per address when anonymous", func(t *testing.T) {
		t.Parallel()
		anon := b.anon().with("X-Forwarded-For", "10.0.2.1")
		for range burst {
			anon.get(t, "/healthz").requireStatus(t, http.StatusOK)
		}
		requireRateLimited(t, anon.get(t, "/healthz"))
		requireRateLimited(t, anon.get(t, "/v1/openapi.json"))
		// The first address of the list is the client's.
		requireRateLimited(t, b.anon().with("X-Forwarded-For", "10.0.2.1, 192.0.2.7").get(t, "/readyz"))
		b.anon().with("X-Forwarded-For", "10.0.2.2").get(t, "/healthz").requireStatus(t, http.StatusOK)
		b.anon().with("X-Forwarded-For", "192.0.2.7, 10.0.2.1").get(t, "/healthz").requireStatus(t, http.StatusOK)
	})

	t.Run("login per address", func(t *testing.T) {
		t.Parallel()
		victim := b.signupAs(t, b.anon().with("X-Forwarded-For", "10.0.3.1"))
		guesser := b.anon().with("X-Forwarded-For", "10.0.3.2")
		for range authBurst {
			guesser.post(t, "/v1/auth/login", map[string]string{"email": victim.User.Email, "password": "guess-guess"}).
				problem(t, http.StatusUnauthorized, "unauthorized")
		}
		// Even the right password is refused now, from that address.
		requireRateLimited(t, guesser.post(t, "/v1/auth/login", map[string]string{"email": victim.User.Email, "password": victim.Password}))
		requireRateLimited(t, guesser.post(t, "/v1/auth/refresh", map[string]string{"refresh_token": victim.Refresh}))
		// Another address logs in; the guesser's address may still use
		// the rest of the API.
		b.anon().with("X-Forwarded-For", "10.0.3.3").post(t, "/v1/auth/login",
			map[string]string{"email": victim.User.Email, "password": victim.Password}).requireStatus(t, http.StatusOK)
		guesser.get(t, "/healthz").requireStatus(t, http.StatusOK)
		// The refused refresh did not spend the token.
		var tok tokensJSON
		b.anon().with("X-Forwarded-For", "10.0.3.4").post(t, "/v1/auth/refresh", map[string]string{"refresh_token": victim.Refresh}).
			decode(t, http.StatusOK, &tok)
	})

	t.Run("signup per address", func(t *testing.T) {
		t.Parallel()
		from := b.anon().with("X-Forwarded-For", "10.0.4.1")
		for range authBurst {
			b.signupAs(t, from)
		}
		email := uniqueEmail("limited")
		requireRateLimited(t, from.post(t, "/v1/auth/signup", map[string]string{"name": "L", "email": email, "password": "password-1"}))
		// Not created: another address can sign up with that e-mail.
		b.anon().with("X-Forwarded-For", "10.0.4.2").post(t, "/v1/auth/signup",
			map[string]string{"name": "L", "email": email, "password": "password-1"}).requireStatus(t, http.StatusCreated)
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
	b := setup(t, func(c *app.Config) { c.HTTP.MaxBodyBytes = limit })
	customer := b.signup(t)

	for _, tc := range []struct {
		name string
		opts []reqOpt
	}{
		{"content-length", nil},
		{"chunked", []reqOpt{chunked()}},
		{"keyed", []reqOpt{hdr("Idempotency-Key", unique("size"))}},
		{"keyed chunked", []reqOpt{chunked(), hdr("Idempotency-Key", unique("size"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := b.countOrders(t, customer.User.ID)
			var o orderJSON
			customer.post(t, "/v1/orders", sizedOrder(t, limit), tc.opts...).decode(t, http.StatusCreated, &o)
			require.Len(t, o.Notes, limit-len(mustJSON(t, orderWith("notes", ""))))

			p := customer.post(t, "/v1/orders", sizedOrder(t, limit+1), append([]reqOpt{invalidReq()}, tc.opts...)...).
				problem(t, http.StatusRequestEntityTooLarge, "body_too_large")
			require.Contains(t, p.Detail, strconv.Itoa(limit))
			customer.post(t, "/v1/orders", sizedOrder(t, 3*limit), append([]reqOpt{invalidReq()}, tc.opts...)...).
				problem(t, http.StatusRequestEntityTooLarge, "body_too_large")
			require.Equal(t, before+1, b.countOrders(t, customer.User.ID))
		})
	}
	// Other routes share the limit.
	b.anon().post(t, "/v1/auth/login", raw(`{"email":"a@b.c","password":"`+strings.Repeat("p", limit)+`"}`), invalidReq()).
		problem(t, http.StatusRequestEntityTooLarge, "body_too_large")
}

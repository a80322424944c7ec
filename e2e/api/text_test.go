package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
)

// TestTextRefusedAtTheEdge (issue #14, finding 1): a NUL character in any
// JSON string, or a body or query string that is not valid UTF-8, is 422
// validation_failed at the edge — never a 503 from a store that refuses
// the byte after the actor tried four times, never stored as U+FFFD. The
// refusals lose nothing: the same requests without the bad byte work.
func TestTextRefusedAtTheEdge(t *testing.T) {
	_, a := e2e.Up(t, nil)
	customer := a.Signup(t)
	drv := a.CreateDriver(t, 1, true)
	o := customer.CreateOrder(t)
	offered := customer.CreateOrder(t)
	a.Admin.Assign(t, offered.ID, drv.ID())

	const nul = `\u0000`
	invalidUTF8 := "\xff\xfe"
	cases := []struct {
		name   string
		as     *e2e.Caller
		method string
		path   string
		body   e2e.Raw
	}{
		{"login e-mail", a.Anon(), http.MethodPost, "/v1/auth/login", e2e.Raw(`{"email":"a` + nul + `@example.test","password":"whatever-1"}`)},
		{"signup name", a.Anon(), http.MethodPost, "/v1/auth/signup", e2e.Raw(`{"name":"N` + nul + `","email":"` + e2e.UniqueEmail("nul") + `","password":"grape-lantern-42"}`)},
		{"order notes", customer, http.MethodPost, "/v1/orders", e2e.Raw(`{"pickup":{"address":"A"},"dropoff":{"address":"B"},"delivery_option":"standard","notes":"x` + nul + `"}`)},
		{"pickup address", customer, http.MethodPost, "/v1/orders", e2e.Raw(`{"pickup":{"address":"A` + nul + `"},"dropoff":{"address":"B"},"delivery_option":"standard"}`)},
		{"a key", customer, http.MethodPost, "/v1/orders", e2e.Raw(`{"pickup":{"address":"A"},"dropoff":{"address":"B"},"delivery_option":"standard","no` + nul + `tes":"x"}`)},
		{"status reason", a.Admin, http.MethodPut, "/v1/orders/" + o.ID + "/status", e2e.Raw(`{"status":"cancelled","reason":"r` + nul + `"}`)},
		{"decline reason", drv, http.MethodPost, "/v1/orders/" + offered.ID + "/decline", e2e.Raw(`{"reason":"` + nul + `"}`)},
		{"invalid UTF-8 in notes", customer, http.MethodPost, "/v1/orders", e2e.Raw(`{"pickup":{"address":"A"},"dropoff":{"address":"B"},"delivery_option":"standard","notes":"` + invalidUTF8 + `"}`)},
		{"invalid UTF-8 in a name", a.Anon(), http.MethodPost, "/v1/auth/signup", e2e.Raw(`{"name":"` + invalidUTF8 + `","email":"` + e2e.UniqueEmail("utf") + `","password":"grape-lantern-42"}`)},
		{"a lone high surrogate", customer, http.MethodPost, "/v1/orders", e2e.Raw(`{"pickup":{"address":"A"},"dropoff":{"address":"B"},"delivery_option":"standard","notes":"x\ud800y"}`)},
		{"a lone low surrogate", customer, http.MethodPost, "/v1/orders", e2e.Raw(`{"pickup":{"address":"A\udc00"},"dropoff":{"address":"B"},"delivery_option":"standard"}`)},
		{"a high surrogate without its low half", a.Anon(), http.MethodPost, "/v1/auth/signup", e2e.Raw(`{"name":"\ud83d\u0041","email":"` + e2e.UniqueEmail("sur") + `","password":"grape-lantern-42"}`)},
		{"NUL in a query", a.Admin, http.MethodGet, "/v1/drivers?q=a%00", ""},
		{"invalid UTF-8 in a query", a.Admin, http.MethodGet, "/v1/drivers?q=%FF", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := tc.as.Do(t, tc.method, tc.path, body, e2e.InvalidRequest())
			p := r.Problem(t, http.StatusUnprocessableEntity, "validation_failed")
			require.NotEmpty(t, p.Errors, "%s", r)
			require.Empty(t, r.Header.Get("Retry-After"), "not a failure to retry")
		})
	}

	// Nothing was lost or stuck: the orders answer, and the same changes
	// without the bad byte go through.
	require.Equal(t, "pending", a.Admin.Order(t, o.ID).Status)
	require.Equal(t, "assigned", a.Admin.Order(t, offered.ID).Status)
	drv.Post(t, "/v1/orders/"+offered.ID+"/decline", map[string]string{"reason": "too far"}).RequireStatus(t, http.StatusOK)
	a.Admin.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "cancelled", "reason": "fine"}).RequireStatus(t, http.StatusOK)
	// An Idempotency-Key that is not visible ASCII is refused, not a 503
	// from a store that will not take the byte (the probe's finding).
	r := customer.Post(t, "/v1/orders", e2e.ValidOrder(), e2e.Header("Idempotency-Key", "k-\xff-"+e2e.Unique("ik")), e2e.InvalidRequest())
	r.Problem(t, http.StatusUnprocessableEntity, "validation_failed")
	// A string with other control characters, non-Latin text and a
	// surrogate pair (an emoji, escaped) is fine.
	var created struct {
		Notes string `json:"notes"`
	}
	req := e2e.ValidOrder()
	req["notes"] = "tab\there, café, 東京, 😀"
	customer.Post(t, "/v1/orders", req).Decode(t, http.StatusCreated, &created)
	require.Equal(t, "tab\there, café, 東京, 😀", created.Notes)
	customer.Post(t, "/v1/orders", e2e.Raw(`{"pickup":{"address":"A"},"dropoff":{"address":"B"},"delivery_option":"standard","notes":"\ud83d\ude00"}`)).
		Decode(t, http.StatusCreated, &created)
	require.Equal(t, "😀", created.Notes)
}

package httpapi_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIdempotencyKey(t *testing.T) {
	b := setup(t, nil)

	t.Run("same key and body replays", func(t *testing.T) {
		t.Parallel()
		customer := b.signup(t)
		key := hdr("Idempotency-Key", unique("order"))
		first := customer.post(t, "/v1/orders", validOrder(), key)
		var o orderJSON
		first.decode(t, http.StatusCreated, &o)
		require.Empty(t, first.Header.Get("Idempotent-Replayed"))

		for range 3 {
			again := customer.post(t, "/v1/orders", validOrder(), key)
			require.Equal(t, first.Status, again.Status)
			require.Equal(t, string(first.Body), string(again.Body))
			require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
			require.Equal(t, first.Header.Get("Location"), again.Header.Get("Location"))
			require.Equal(t, first.Header.Get("Content-Type"), again.Header.Get("Content-Type"))
		}
		require.Equal(t, 1, b.countOrders(t, customer.User.ID), "one order for one key")

		// Another body with the key: refused, nothing created.
		changed := validOrder()
		changed["notes"] = "leave at the door"
		customer.post(t, "/v1/orders", changed, key).problem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
		// The same key on another route is another request too.
		customer.put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "cancelled"}, key).
			problem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
		require.Equal(t, 1, b.countOrders(t, customer.User.ID))
		require.Equal(t, "pending", customer.order(t, o.ID).Status)
		// Without a key, the same body is a new order.
		customer.createOrder(t)
		require.Equal(t, 2, b.countOrders(t, customer.User.ID))
	})

	t.Run("keys are per user", func(t *testing.T) {
		t.Parallel()
		alice, bob := b.signup(t), b.signup(t)
		key := hdr("Idempotency-Key", unique("shared"))
		var oa, ob orderJSON
		alice.post(t, "/v1/orders", validOrder(), key).decode(t, http.StatusCreated, &oa)
		rb := bob.post(t, "/v1/orders", validOrder(), key)
		rb.decode(t, http.StatusCreated, &ob)
		require.Empty(t, rb.Header.Get("Idempotent-Replayed"))
		require.NotEqual(t, oa.ID, ob.ID)
		require.Equal(t, alice.User.ID, oa.CustomerID)
		require.Equal(t, bob.User.ID, ob.CustomerID)
		// Bob's replay is Bob's order; a different body from Bob is
		// refused even though Alice never sent it.
		var again orderJSON
		bob.post(t, "/v1/orders", validOrder(), key).decode(t, http.StatusCreated, &again)
		require.Equal(t, ob, again)
		require.Equal(t, 1, b.countOrders(t, alice.User.ID))
		require.Equal(t, 1, b.countOrders(t, bob.User.ID))
	})

	t.Run("commands replay without applying twice", func(t *testing.T) {
		t.Parallel()
		customer := b.signup(t)
		driver := b.createDriver(t, 0, true)
		o := customer.createOrder(t)
		assignKey := hdr("Idempotency-Key", unique("assign"))
		body := map[string]any{"driver_id": driver.User.ID, "expected_version": 1}
		first := b.admin.post(t, "/v1/orders/"+o.ID+"/assign", body, assignKey)
		first.requireStatus(t, http.StatusOK)
		// A retry after a lost answer gets the same answer, even though
		// expected_version 1 is stale by now.
		again := b.admin.post(t, "/v1/orders/"+o.ID+"/assign", body, assignKey)
		require.Equal(t, string(first.Body), string(again.Body))
		require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		require.EqualValues(t, 2, customer.order(t, o.ID).Version)
		require.Equal(t, 1, b.admin.driverRecord(t, driver.User.ID).ActiveOrders)

		k := hdr("Idempotency-Key", unique("status"))
		driver.orderAction(t, o.ID, "accept", nil)
		p1 := driver.put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "picked_up"}, k)
		p1.requireStatus(t, http.StatusOK)
		p2 := driver.put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "picked_up"}, k)
		require.Equal(t, string(p1.Body), string(p2.Body))
		require.EqualValues(t, 4, customer.order(t, o.ID).Version)

		// Refusals are replayed too (4xx are final answers).
		ck := hdr("Idempotency-Key", unique("cancel"))
		r1 := customer.put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "cancelled"}, ck)
		r1.problem(t, http.StatusConflict, "invalid_transition")
		r2 := customer.put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "cancelled"}, ck)
		require.Equal(t, http.StatusConflict, r2.Status)
		require.Equal(t, "true", r2.Header.Get("Idempotent-Replayed"))
		require.Equal(t, string(r1.Body), string(r2.Body))
	})

	t.Run("concurrent retries create one order", func(t *testing.T) {
		t.Parallel()
		customer := b.signup(t)
		key := hdr("Idempotency-Key", unique("race"))
		const n = 10
		g := newGoT(t)
		resps := make([]*response, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				resps[i] = customer.post(g, "/v1/orders", validOrder(), key)
			})
		}
		close(start)
		wg.Wait()
		require.Empty(t, g.failures())

		var id string
		created := 0
		for _, r := range resps {
			require.NotNil(t, r)
			switch r.Status {
			case http.StatusCreated:
				created++
				var o orderJSON
				r.decode(t, http.StatusCreated, &o)
				if id == "" {
					id = o.ID
				}
				require.Equal(t, id, o.ID, "every 201 names the same order")
			case http.StatusConflict:
				r.problem(t, http.StatusConflict, "idempotency_in_progress")
				require.Equal(t, "1", r.Header.Get("Retry-After"))
			default:
				require.Failf(t, "unexpected answer", "%s", r)
			}
		}
		require.Positive(t, created)
		require.Equal(t, 1, b.countOrders(t, customer.User.ID), "exactly one order")

		// Once settled, a retry replays the one order.
		var o orderJSON
		r := customer.post(t, "/v1/orders", validOrder(), key)
		r.decode(t, http.StatusCreated, &o)
		require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"))
		if id != "" {
			require.Equal(t, id, o.ID)
		}
		require.Equal(t, 1, b.countOrders(t, customer.User.ID))
	})
}

package api_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

func TestIdempotencyKey(t *testing.T) {
	_, a := e2e.Up(t, nil)

	t.Run("same key and body replays", func(t *testing.T) {
		t.Parallel()
		customer := a.Signup(t)
		key := e2e.Header("Idempotency-Key", e2e.Unique("order"))
		first := customer.Post(t, "/v1/orders", e2e.ValidOrder(), key)
		var o wire.Order
		first.Decode(t, http.StatusCreated, &o)
		require.Empty(t, first.Header.Get("Idempotent-Replayed"))

		for range 3 {
			again := customer.Post(t, "/v1/orders", e2e.ValidOrder(), key)
			require.Equal(t, first.Status, again.Status)
			require.Equal(t, string(first.Body), string(again.Body))
			require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
			require.Equal(t, first.Header.Get("Location"), again.Header.Get("Location"))
			require.Equal(t, first.Header.Get("Content-Type"), again.Header.Get("Content-Type"))
		}
		require.Equal(t, 1, a.CountOrders(t, customer.User.ID), "one order for one key")

		// Another body with the key: refused, nothing created.
		changed := e2e.ValidOrder()
		changed["notes"] = "leave at the door"
		customer.Post(t, "/v1/orders", changed, key).Problem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
		// The same key on another route is another request too.
		customer.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "cancelled"}, key).
			Problem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
		require.Equal(t, 1, a.CountOrders(t, customer.User.ID))
		require.Equal(t, "pending", customer.Order(t, o.ID).Status)
		// Without a key, the same body is a new order.
		customer.CreateOrder(t)
		require.Equal(t, 2, a.CountOrders(t, customer.User.ID))
	})

	t.Run("keys are per user", func(t *testing.T) {
		t.Parallel()
		alice, bob := a.Signup(t), a.Signup(t)
		key := e2e.Header("Idempotency-Key", e2e.Unique("shared"))
		var oa, ob wire.Order
		alice.Post(t, "/v1/orders", e2e.ValidOrder(), key).Decode(t, http.StatusCreated, &oa)
		rb := bob.Post(t, "/v1/orders", e2e.ValidOrder(), key)
		rb.Decode(t, http.StatusCreated, &ob)
		require.Empty(t, rb.Header.Get("Idempotent-Replayed"))
		require.NotEqual(t, oa.ID, ob.ID)
		require.Equal(t, alice.User.ID, oa.CustomerID)
		require.Equal(t, bob.User.ID, ob.CustomerID)
		// Bob's replay is Bob's order; a different body from Bob is
		// refused even though Alice never sent it.
		var again wire.Order
		bob.Post(t, "/v1/orders", e2e.ValidOrder(), key).Decode(t, http.StatusCreated, &again)
		require.Equal(t, ob, again)
		require.Equal(t, 1, a.CountOrders(t, alice.User.ID))
		require.Equal(t, 1, a.CountOrders(t, bob.User.ID))
	})

	t.Run("commands replay without applying twice", func(t *testing.T) {
		t.Parallel()
		customer := a.Signup(t)
		driver := a.CreateDriver(t, 0, true)
		o := customer.CreateOrder(t)
		assignKey := e2e.Header("Idempotency-Key", e2e.Unique("assign"))
		body := map[string]any{"driver_id": driver.User.ID, "expected_version": 1}
		first := a.Admin.Post(t, "/v1/orders/"+o.ID+"/assign", body, assignKey)
		first.RequireStatus(t, http.StatusOK)
		// A retry after a lost answer gets the same answer, even though
		// expected_version 1 is stale by now.
		again := a.Admin.Post(t, "/v1/orders/"+o.ID+"/assign", body, assignKey)
		require.Equal(t, string(first.Body), string(again.Body))
		require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		require.EqualValues(t, 2, customer.Order(t, o.ID).Version)
		require.Equal(t, 1, a.Admin.Driver(t, driver.User.ID).ActiveOrders)

		k := e2e.Header("Idempotency-Key", e2e.Unique("status"))
		driver.OrderAction(t, o.ID, "accept", nil)
		p1 := driver.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "picked_up"}, k)
		p1.RequireStatus(t, http.StatusOK)
		p2 := driver.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "picked_up"}, k)
		require.Equal(t, string(p1.Body), string(p2.Body))
		require.EqualValues(t, 4, customer.Order(t, o.ID).Version)

		// Refusals are replayed too (4xx are final answers).
		ck := e2e.Header("Idempotency-Key", e2e.Unique("cancel"))
		r1 := customer.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "cancelled"}, ck)
		r1.Problem(t, http.StatusConflict, "invalid_transition")
		r2 := customer.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "cancelled"}, ck)
		require.Equal(t, http.StatusConflict, r2.Status)
		require.Equal(t, "true", r2.Header.Get("Idempotent-Replayed"))
		require.Equal(t, string(r1.Body), string(r2.Body))
	})

	// PATCH and DELETE honour the key as POST and PUT do (the probe of
	// issue 14 found it silently ignored there): a retry replays the first
	// answer without applying the change again, another body is refused,
	// and a malformed key is refused rather than dropped.
	t.Run("PATCH and DELETE replay", func(t *testing.T) {
		t.Parallel()
		customer := a.Signup(t)
		key := e2e.IdempotencyKey(e2e.Unique("patch"))
		first := customer.Patch(t, "/v1/me", map[string]string{"name": "Anna Patch"}, key)
		var u wire.User
		first.Decode(t, http.StatusOK, &u)
		require.Equal(t, "Anna Patch", u.Name)
		require.Empty(t, first.Header.Get("Idempotent-Replayed"))
		customer.Patch(t, "/v1/me", map[string]string{"name": "Anna Later"}).RequireStatus(t, http.StatusOK)
		again := customer.Patch(t, "/v1/me", map[string]string{"name": "Anna Patch"}, key)
		require.Equal(t, http.StatusOK, again.Status)
		require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		require.Equal(t, string(first.Body), string(again.Body))
		customer.Get(t, "/v1/me").Decode(t, http.StatusOK, &u)
		require.Equal(t, "Anna Later", u.Name, "the replay did not apply the first change again")
		customer.Patch(t, "/v1/me", map[string]string{"name": "Anna Other"}, key).
			Problem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
		customer.Patch(t, "/v1/me", map[string]string{"name": "Anna Bad"}, e2e.IdempotencyKey("k with space"), e2e.InvalidRequest()).
			Problem(t, http.StatusUnprocessableEntity, "validation_failed")

		victim := a.Signup(t)
		off := e2e.IdempotencyKey(e2e.Unique("off"))
		a.Admin.Patch(t, "/v1/users/"+victim.ID(), map[string]bool{"active": false}, off).RequireStatus(t, http.StatusOK)
		a.Admin.Patch(t, "/v1/users/"+victim.ID(), map[string]bool{"active": true}).RequireStatus(t, http.StatusOK)
		r := a.Admin.Patch(t, "/v1/users/"+victim.ID(), map[string]bool{"active": false}, off)
		require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"))
		a.Login(t, victim.User.Email, victim.Password) // still switched on: the replay changed nothing

		del := e2e.IdempotencyKey(e2e.Unique("erase"))
		d1 := a.Admin.Delete(t, "/v1/users/"+victim.ID(), del)
		d1.RequireStatus(t, http.StatusNoContent)
		require.Empty(t, d1.Header.Get("Idempotent-Replayed"))
		d2 := a.Admin.Delete(t, "/v1/users/"+victim.ID(), del)
		d2.RequireStatus(t, http.StatusNoContent)
		require.Equal(t, "true", d2.Header.Get("Idempotent-Replayed"))
		a.Admin.Delete(t, "/v1/users/"+customer.ID(), del).Problem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
		customer.Get(t, "/v1/me").RequireStatus(t, http.StatusOK) // not erased
	})

	t.Run("concurrent retries create one order", func(t *testing.T) {
		t.Parallel()
		customer := a.Signup(t)
		key := e2e.Header("Idempotency-Key", e2e.Unique("race"))
		const n = 10
		g := e2e.NewGoT(t.Context())
		resps := make([]*e2e.Response, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				resps[i] = customer.Post(g, "/v1/orders", e2e.ValidOrder(), key)
			})
		}
		close(start)
		wg.Wait()
		require.Empty(t, g.Failures())

		var id string
		created := 0
		for _, r := range resps {
			require.NotNil(t, r)
			switch r.Status {
			case http.StatusCreated:
				created++
				var o wire.Order
				r.Decode(t, http.StatusCreated, &o)
				if id == "" {
					id = o.ID
				}
				require.Equal(t, id, o.ID, "every 201 names the same order")
			case http.StatusConflict:
				r.Problem(t, http.StatusConflict, "idempotency_in_progress")
				require.Equal(t, "1", r.Header.Get("Retry-After"))
			default:
				require.Failf(t, "unexpected answer", "%s", r)
			}
		}
		require.Positive(t, created)
		require.Equal(t, 1, a.CountOrders(t, customer.User.ID), "exactly one order")

		// Once settled, a retry replays the one order.
		var o wire.Order
		r := customer.Post(t, "/v1/orders", e2e.ValidOrder(), key)
		r.Decode(t, http.StatusCreated, &o)
		require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"))
		if id != "" {
			require.Equal(t, id, o.ID)
		}
		require.Equal(t, 1, a.CountOrders(t, customer.User.ID))
	})
}

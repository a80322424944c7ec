package dispatch_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// Automatic dispatch (DESIGN.md §7), end to end: the engine offers an
// auto order to the nearest available driver with a fresh fix, one at a
// time; a decline or an expiry cools that driver and the next-nearest
// gets the offer; after the run's attempts or deadline the order
// escalates to the admins. Expected outcomes come from the contract (who
// is nearest, how many attempts), never from the engine's own answers.

// fastRounds makes a round that found nobody try again soon.
func fastRounds(c *app.Config) {
	c.Dispatch.RoundInterval = 200 * time.Millisecond
	c.WS.LocationRate = 1000 // the tests place drivers, they do not stream
}

// northOf is the point distM metres due north of p.
func northOf(p point, distM float64) point { return point{p.lat + distM/111_194.93, p.lng} }

// placedDriver is a driver with a socket, standing somewhere.
type placedDriver struct {
	*e2e.Caller
	ws *e2e.WS
	at point
}

// placeDrivers creates an available driver of capacity capacity at each
// distance north of pickup, in that order, sends each one's fix over his
// socket and waits until the zones list them all.
func placeDrivers(t *testing.T, n *app.Node, a *e2e.API, pickup point, capacity int, dists ...float64) []*placedDriver {
	t.Helper()
	out := make([]*placedDriver, len(dists))
	ids := make([]string, len(dists))
	for i, d := range dists {
		c := a.CreateDriver(t, capacity, true)
		p := northOf(pickup, d)
		ws := dialDriver(t, n, c)
		ws.Send(fix(p, time.Now()))
		out[i], ids[i] = &placedDriver{Caller: c, ws: ws, at: p}, c.ID()
	}
	waitNearby(t, a, fmt.Sprintf("lat=%v&lng=%v&radius_m=%d&limit=100&available=true", pickup.lat, pickup.lng, 10_000), ids)
	return out
}

// autoOrder has the admin place an auto-dispatched order for customer
// with its pickup at p.
func autoOrder(t *testing.T, a *e2e.API, customer *e2e.Caller, p point) wire.Order {
	t.Helper()
	req := e2e.ValidOrder()
	req["pickup"] = map[string]any{"address": "Pickup", "lat": p.lat, "lng": p.lng}
	req["dispatch"] = "auto"
	req["customer_id"] = customer.ID()
	var o wire.Order
	a.Admin.Post(t, "/v1/orders", req).Decode(t, http.StatusCreated, &o)
	return o
}

func dispatchOf(t *testing.T, a *e2e.API, id string) wire.Dispatch {
	t.Helper()
	var d wire.Dispatch
	a.Admin.Get(t, "/v1/orders/"+id+"/dispatch").Decode(t, http.StatusOK, &d)
	return d
}

// expectOffer reads d's socket up to the next job event and requires it
// to be the offer of order id.
func expectOffer(t *testing.T, d *placedDriver, id string) wire.Job {
	t.Helper()
	ev, job := nextJob(t, d.ws)
	require.Equal(t, wire.JobOffered, ev, "%s got %s of %s", d.ID(), ev, job.OrderID)
	require.Equal(t, id, job.OrderID)
	return job
}

// TestAutoDispatchCascade: in each round three drivers stand 300, 900
// and 1,500 m from the pickup. The nearest is offered the order first;
// his decline (on the socket) passes it to the next-nearest, whose
// decline (over HTTP) passes it to the farthest, who accepts. The
// recorded decisions say so.
func TestAutoDispatchCascade(t *testing.T) {
	n, a := e2e.Up(t, func(c *app.Config) { apiOnly(c); fastRounds(c) })
	customer := a.Signup(t)
	for round := range 3 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			pickup := point{48.85 + float64(round), 2.35} // a zone of its own each round
			ds := placeDrivers(t, n, a, pickup, 1, 300, 900, 1500)
			near, mid, far := ds[0], ds[1], ds[2]

			o := autoOrder(t, a, customer, pickup)
			job := expectOffer(t, near, o.ID)
			require.InDelta(t, haversineM(pickup.lat, pickup.lng, near.at.lat, near.at.lng), *job.DistanceM, 1)
			ack := near.ws.Ask(map[string]any{"type": "decline", "order_id": o.ID})
			require.Equal(t, "ack", ack.Type, "%s", ack.Raw)

			expectOffer(t, mid, o.ID)
			mid.Post(t, "/v1/orders/"+o.ID+"/decline", map[string]string{"reason": "too far"}).RequireStatus(t, http.StatusOK)

			expectOffer(t, far, o.ID)
			ack = far.ws.Ask(map[string]any{"type": "accept", "order_id": o.ID})
			require.Equal(t, "ack", ack.Type, "%s", ack.Raw)
			got := a.Admin.Order(t, o.ID)
			require.Equal(t, "accepted", got.Status)
			require.Equal(t, far.ID(), *got.DriverID)

			d := dispatchOf(t, a, o.ID)
			require.Equal(t, "auto", d.Mode)
			require.Equal(t, "accepted", d.State)
			require.Equal(t, []string{near.ID(), mid.ID(), far.ID()}, d.CooledDriverIDs)
			var tried, outcomes []string
			for _, at := range d.Attempts {
				tried, outcomes = append(tried, at.DriverID), append(outcomes, at.Outcome)
				require.NotEmpty(t, at.OfferedAt)
				require.NotEmpty(t, at.DecidedAt)
			}
			require.Equal(t, []string{near.ID(), mid.ID(), far.ID()}, tried)
			require.Equal(t, []string{"declined", "declined", "accepted"}, outcomes)
			first := d.Attempts[0]
			require.Equal(t, 3, first.Considered)
			var ranked []string
			for _, c := range first.Candidates {
				ranked = append(ranked, c.DriverID)
			}
			require.Equal(t, []string{near.ID(), mid.ID(), far.ID()}, ranked, "the first round ranked all three, nearest first")
			require.Less(t, d.Attempts[0].DistanceM, d.Attempts[1].DistanceM)
			require.Less(t, d.Attempts[1].DistanceM, d.Attempts[2].DistanceM)

			events := timelineEvents(t, a, o.ID)
			require.Equal(t, []string{"order.created", "order.dispatch_started", "order.assigned", "order.declined",
				"order.assigned", "order.declined", "order.assigned", "order.accepted"}, events)
		})
	}
}

// TestAutoDispatchExpiry: a driver who lets the offer run out is told it
// is withdrawn, and the next-nearest is offered the order.
func TestAutoDispatchExpiry(t *testing.T) {
	n, a := e2e.Up(t, func(c *app.Config) {
		apiOnly(c)
		fastRounds(c)
		c.HTTP.OfferTTL = 1500 * time.Millisecond
	})
	customer := a.Signup(t)
	pickup := point{45.76, 4.83}
	ds := placeDrivers(t, n, a, pickup, 1, 200, 700)
	o := autoOrder(t, a, customer, pickup)
	expectOffer(t, ds[0], o.ID)
	ev, job := nextJob(t, ds[0].ws)
	require.Equal(t, wire.JobWithdrawn, ev)
	require.Equal(t, "expired", job.Reason)
	expectOffer(t, ds[1], o.ID)
	d := dispatchOf(t, a, o.ID)
	require.Equal(t, "offered", d.State)
	require.Len(t, d.Attempts, 2)
	require.Equal(t, "expired", d.Attempts[0].Outcome)
	require.Equal(t, "open", d.Attempts[1].Outcome)
	require.Equal(t, ds[0].ID(), d.Attempts[0].DriverID)
	require.Equal(t, []string{ds[1].ID()}, candidateIDs(d.Attempts[1]), "the expired driver is not ranked again")
}

func candidateIDs(a wire.DispatchAttempt) []string {
	var out []string
	for _, c := range a.Candidates {
		out = append(out, c.DriverID)
	}
	return out
}

// TestAutoDispatchEscalation: after OUTRIDER_DISPATCH_MAX_ATTEMPTS offers
// the run escalates: order.dispatch_failed, a notification to every
// admin, the order pending for a manual assignment, and the third driver
// never offered it. With nobody near, the run's deadline escalates it.
func TestAutoDispatchEscalation(t *testing.T) {
	n, a := e2e.Up(t, func(c *app.Config) {
		fastRounds(c)
		c.HTTP.Dispatch.MaxAttempts = 2
		c.HTTP.Dispatch.Deadline = 3 * time.Second
	})
	customer := a.Signup(t)
	admin2 := a.CreateUser(t, "admin")

	for round := range 3 {
		t.Run(fmt.Sprint("after the attempts, round ", round), func(t *testing.T) {
			escalateAfterAttempts(t, n, a, customer, admin2, point{41.39 + float64(round), 2.17})
		})
	}
	t.Run("at the deadline, with nobody near", func(t *testing.T) {
		o := autoOrder(t, a, customer, point{-33.86, 151.2})
		e2e.Eventually(t, e2e.EventWait, func() bool { return dispatchOf(t, a, o.ID).State == "failed" },
			"the run never escalated")
		d := dispatchOf(t, a, o.ID)
		require.Equal(t, "deadline", d.EscalationReason)
		require.Empty(t, d.Attempts)
		deadline, err := wire.ParseTimestamp(d.DeadlineAt)
		require.NoError(t, err)
		escalated, err := wire.ParseTimestamp(d.EscalatedAt)
		require.NoError(t, err)
		require.False(t, escalated.Before(deadline), "escalated at %s, before the deadline %s", escalated, deadline)
		waitNotification(t, a.Admin, o.ID, "order.dispatch_failed")
	})
}

// waitNotification polls u's notifications until one of type typ about
// order id is there.
func waitNotification(t *testing.T, u *e2e.Caller, id, typ string) {
	t.Helper()
	e2e.Eventually(t, e2e.EventWait, func() bool {
		var page struct {
			Items []struct {
				Type    string `json:"type"`
				Payload struct {
					OrderID string `json:"order_id"`
				} `json:"payload"`
			} `json:"items"`
		}
		u.Get(t, "/v1/notifications?limit=100").Decode(t, http.StatusOK, &page)
		for _, it := range page.Items {
			if it.Type == typ && it.Payload.OrderID == id {
				return true
			}
		}
		return false
	}, "%s never got a %s notification about %s", u.ID(), typ, id)
}

// TestAutoDispatchCapacity: 24 auto orders placed at once near four
// drivers of capacity 2. The engine keeps offering while drivers accept
// and deliver; at no sample does a driver hold more offers and orders
// than his capacity, and every order is delivered in the end.
func TestAutoDispatchCapacity(t *testing.T) {
	n, a := e2e.Up(t, func(c *app.Config) { apiOnly(c); fastRounds(c) })
	customer := a.Signup(t)
	pickup := point{59.33, 18.06}
	const capacity, orders = 2, 24
	ds := placeDrivers(t, n, a, pickup, capacity, 100, 400, 800, 1600)
	byID := map[string]*placedDriver{}
	for _, d := range ds {
		byID[d.ID()] = d
	}

	var wg sync.WaitGroup
	for range orders {
		wg.Go(func() {
			req := e2e.ValidOrder()
			req["pickup"] = map[string]any{"address": "Pickup", "lat": pickup.lat, "lng": pickup.lng}
			req["dispatch"] = "auto"
			req["customer_id"] = customer.ID()
			r, err := a.Admin.Try(t, http.MethodPost, "/v1/orders", req)
			if err != nil || r.Status != http.StatusCreated {
				t.Errorf("place an order: %v %v", err, r)
			}
		})
	}
	wg.Wait()

	// held samples every order holding a driver and checks the capacity.
	held := func() map[string][]wire.Order {
		out := map[string][]wire.Order{}
		for _, o := range a.Admin.AllOrders(t, "status=assigned,accepted,picked_up,in_transit", 100) {
			require.NotNil(t, o.DriverID)
			out[*o.DriverID] = append(out[*o.DriverID], o)
		}
		for id, os := range out {
			require.LessOrEqual(t, len(os), capacity, "driver %s holds %d orders and offers", id, len(os))
			rec := a.Admin.Driver(t, id)
			require.LessOrEqual(t, rec.ActiveOrders, capacity, "driver %s record", id)
		}
		return out
	}
	delivered := 0
	sawFull := false
	e2e.Eventually(t, 90*time.Second, func() bool {
		h := held()
		full := 0
		for id, os := range h {
			if len(os) == capacity {
				full++
			}
			for _, o := range os {
				switch o.Status {
				case "assigned":
					byID[id].Post(t, "/v1/orders/"+o.ID+"/accept", nil).RequireStatus(t, http.StatusOK)
				case "accepted":
					if full == len(ds) || sawFull {
						for _, st := range []string{"picked_up", "in_transit", "delivered"} {
							byID[id].SetStatus(t, o.ID, st)
						}
						delivered++
					}
				}
			}
		}
		if full == len(ds) {
			sawFull = true // every slot taken at once: now free them
		}
		return delivered == orders
	}, "only %d of %d orders delivered", delivered, orders)
	require.True(t, sawFull, "the drivers were never all full: the capacity was not put to the test")
	for _, d := range ds {
		require.Zero(t, a.Admin.Driver(t, d.ID()).ActiveOrders)
	}
}

// TestDispatchRoutes: the dispatch field and routes refuse what they
// cannot do, with the contract's codes.
func TestDispatchRoutes(t *testing.T) {
	_, a := e2e.Up(t, func(c *app.Config) { apiOnly(c); fastRounds(c) })
	customer := a.Signup(t)

	noCoords := e2e.ValidOrder()
	noCoords["pickup"] = map[string]any{"address": "Somewhere"}
	noCoords["dispatch"] = "auto"
	a.Admin.Post(t, "/v1/orders", noCoords).Problem(t, http.StatusUnprocessableEntity, "location_required")

	mine := e2e.ValidOrder()
	mine["dispatch"] = "auto"
	customer.Post(t, "/v1/orders", mine, e2e.InvalidRequest()).Problem(t, http.StatusUnprocessableEntity, "validation_failed")

	manual := customer.CreateOrder(t)
	d := dispatchOf(t, a, manual.ID)
	require.Equal(t, "manual", d.Mode)
	require.Equal(t, "idle", d.State)
	require.Zero(t, d.Run)

	var started wire.Dispatch
	a.Admin.Post(t, "/v1/orders/"+manual.ID+"/dispatch", nil).Decode(t, http.StatusOK, &started)
	require.Equal(t, "searching", started.State)
	require.Equal(t, int64(1), started.Run)
	require.Equal(t, 5, started.MaxAttempts, "OUTRIDER_DISPATCH_MAX_ATTEMPTS' default")
	a.Admin.Post(t, "/v1/orders/"+manual.ID+"/dispatch", nil).Problem(t, http.StatusConflict, "dispatch_in_progress")

	// An admin's hand stops the run.
	drv := a.CreateDriver(t, 1, true)
	a.Admin.Assign(t, manual.ID, drv.ID())
	d = dispatchOf(t, a, manual.ID)
	require.Equal(t, "stopped", d.State)
	require.Equal(t, "assigned by an admin", d.StoppedReason)
	a.Admin.Post(t, "/v1/orders/"+manual.ID+"/dispatch", nil).Problem(t, http.StatusConflict, "invalid_transition")

	c := customer.CreateOrder(t)
	noLoc := e2e.ValidOrder()
	noLoc["pickup"] = map[string]any{"address": "Somewhere"}
	var o wire.Order
	customer.Post(t, "/v1/orders", noLoc).Decode(t, http.StatusCreated, &o)
	a.Admin.Post(t, "/v1/orders/"+o.ID+"/dispatch", nil).Problem(t, http.StatusUnprocessableEntity, "location_required")
	customer.Post(t, "/v1/orders/"+c.ID+"/dispatch", nil).Problem(t, http.StatusForbidden, "forbidden")
}

// TestScheduledDispatch: a scheduled auto order's run starts the lead
// time before scheduled_for, not at creation.
func TestScheduledDispatch(t *testing.T) {
	n, a := e2e.Up(t, func(c *app.Config) {
		apiOnly(c)
		fastRounds(c)
		c.HTTP.Dispatch.Lead = time.Hour
	})
	customer := a.Signup(t)
	pickup := point{50.08, 14.43}
	ds := placeDrivers(t, n, a, pickup, 1, 250)
	startsIn := 3 * time.Second
	req := e2e.ValidOrder()
	req["pickup"] = map[string]any{"address": "Pickup", "lat": pickup.lat, "lng": pickup.lng}
	req["dispatch"] = "auto"
	req["customer_id"] = customer.ID()
	req["delivery_option"] = "scheduled"
	req["scheduled_for"] = time.Now().Add(time.Hour + startsIn).UTC().Format(time.RFC3339)
	var o wire.Order
	a.Admin.Post(t, "/v1/orders", req).Decode(t, http.StatusCreated, &o)
	d := dispatchOf(t, a, o.ID)
	starts, err := wire.ParseTimestamp(d.StartsAt)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(startsIn), starts, 2*time.Second, "the run starts the lead before scheduled_for")
	require.Equal(t, "searching", d.State)
	e2e.Never(t, startsIn/2, func() bool { return dispatchOf(t, a, o.ID).State != "searching" },
		"the scheduled order was offered before its run started")
	job := expectOffer(t, ds[0], o.ID)
	at, err := wire.ParseTimestamp(job.At)
	require.NoError(t, err)
	require.False(t, at.Before(starts), "offered at %s, before the run's start %s", at, starts)
	require.True(t, slices.Contains(timelineEvents(t, a, o.ID), "order.assigned"))
}

// escalateAfterAttempts: two of three drivers decline an auto order of a
// node whose runs make two offers; the run escalates.
func escalateAfterAttempts(t *testing.T, n *app.Node, a *e2e.API, customer, admin2 *e2e.Caller, pickup point) {
	ds := placeDrivers(t, n, a, pickup, 1, 100, 200, 300)
	o := autoOrder(t, a, customer, pickup)
	for _, d := range ds[:2] {
		expectOffer(t, d, o.ID)
		d.Post(t, "/v1/orders/"+o.ID+"/decline", map[string]string{}).RequireStatus(t, http.StatusOK)
	}
	e2e.Eventually(t, e2e.EventWait, func() bool { return dispatchOf(t, a, o.ID).State == "failed" },
		"the run never escalated")
	d := dispatchOf(t, a, o.ID)
	require.Equal(t, "max_attempts", d.EscalationReason)
	require.NotEmpty(t, d.EscalatedAt)
	require.Len(t, d.Attempts, 2)
	require.Equal(t, "pending", a.Admin.Order(t, o.ID).Status)
	require.Contains(t, timelineEvents(t, a, o.ID), "order.dispatch_failed")
	ds[2].ws.Quiet("user:" + ds[2].ID())
	for _, adm := range []*e2e.Caller{a.Admin, admin2} {
		waitNotification(t, adm, o.ID, "order.dispatch_failed")
	}
	// An admin takes it from there.
	require.Equal(t, "assigned", a.Admin.Assign(t, o.ID, ds[2].ID()).Status)
	expectOffer(t, ds[2], o.ID)
}

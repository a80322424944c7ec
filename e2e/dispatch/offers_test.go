package dispatch_test

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// apiOnly runs the node without the worker role: jobs must reach drivers
// with no worker anywhere (they come from the commit, through the outbox,
// the stream and the gateway).
func apiOnly(c *app.Config) { c.Roles = []string{"api"} }

// nextJob reads the driver's socket until a job event arrives.
func nextJob(t *testing.T, ws *e2e.WS) (string, wire.Job) {
	t.Helper()
	deadline := time.Now().Add(e2e.EventWait)
	for {
		f := ws.Must(time.Until(deadline))
		if f.Type != "event" || (f.Event != wire.JobOffered && f.Event != wire.JobWithdrawn) {
			continue
		}
		require.Equal(t, "user:"+ws.Name, f.Channel, "%s", f.Raw)
		var j wire.Job
		require.NoError(t, json.Unmarshal(f.Data, &j), "%s", f.Raw)
		require.Equal(t, f.Event, j.Event)
		return f.Event, j
	}
}

// dialDriver opens the driver's socket; the WS is named after his id, so
// nextJob can check the channel.
func dialDriver(t *testing.T, n *app.Node, d *e2e.Caller) *e2e.WS {
	return e2e.Dial(t, d.ID(), n.Addr(), d.Token, e2e.SkipNotifications)
}

// haversineM is the great-circle distance on a sphere of the mean Earth
// radius (6,371 km), the distance DESIGN.md §7 ranks drivers by.
func haversineM(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6_371_000
	rad := math.Pi / 180
	dLat, dLng := (lat2-lat1)*rad, (lng2-lng1)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * r * math.Asin(math.Sqrt(h))
}

func timelineEvents(t *testing.T, a *e2e.API, id string) []string {
	var out []string
	for _, e := range a.Admin.Timeline(t, id) {
		out = append(out, e.Metadata["event"])
	}
	return out
}

func TestOffers(t *testing.T) {
	n, a := e2e.Up(t, apiOnly)
	customer := a.Signup(t)

	t.Run("the offer reaches the driver's socket and he accepts there", func(t *testing.T) {
		drv := a.CreateDriver(t, 1, true)
		ws := dialDriver(t, n, drv)
		o := customer.CreateOrder(t)
		before := time.Now()
		assigned := a.Admin.OrderAction(t, o.ID, "assign", map[string]any{"driver_id": drv.ID()})
		require.Equal(t, "assigned", assigned.Status)
		require.NotNil(t, assigned.OfferExpiresAt)
		expires, err := wire.ParseTimestamp(*assigned.OfferExpiresAt)
		require.NoError(t, err)
		require.WithinDuration(t, before.Add(45*time.Second), expires, 5*time.Second, "the default offer TTL")

		ev, job := nextJob(t, ws)
		require.Equal(t, wire.JobOffered, ev)
		require.Equal(t, o.ID, job.OrderID)
		require.Equal(t, wire.OfferID(o.ID, 2), job.OfferID)
		require.Equal(t, *assigned.OfferExpiresAt, job.ExpiresAt)
		require.Equal(t, o.Pickup.Address, job.Pickup.Address)

		ack := ws.Ask(map[string]any{"type": "accept", "order_id": o.ID})
		require.Equal(t, "ack", ack.Type, "%s", ack.Raw)
		got := drv.Order(t, o.ID)
		require.Equal(t, "accepted", got.Status)
		require.Nil(t, got.OfferExpiresAt, "no offer is open once accepted")
		// A second accept is refused like the HTTP route refuses it.
		again := ws.Ask(map[string]any{"type": "accept", "order_id": o.ID})
		require.Equal(t, "error", again.Type)
		require.Equal(t, "invalid_transition", again.Code)
	})

	t.Run("the offer names the driver's distance to the pickup", func(t *testing.T) {
		drv := a.CreateDriver(t, 1, true)
		ws := dialDriver(t, n, drv)
		// ~900 m north of the pickup of e2e.ValidOrder (52.5219, 13.4132).
		lat, lng := 52.5300, 13.4132
		ws.Send(map[string]any{"type": "location", "lat": lat, "lng": lng, "ts": time.Now().UnixMilli()})
		require.Eventually(t, func() bool { return a.Admin.Driver(t, drv.ID()).LastLocation != nil },
			10*time.Second, 50*time.Millisecond, "the fix reaches the driver record")
		o := customer.CreateOrder(t)
		a.Admin.Assign(t, o.ID, drv.ID())
		ev, job := nextJob(t, ws)
		require.Equal(t, wire.JobOffered, ev)
		require.NotNil(t, job.DistanceM)
		require.InDelta(t, haversineM(*o.Pickup.Lat, *o.Pickup.Lng, lat, lng), *job.DistanceM, 1.0)
		require.InDelta(t, 901, *job.DistanceM, 5)
	})

	t.Run("declined on the socket: the order is pending and the driver free", func(t *testing.T) {
		drv := a.CreateDriver(t, 1, true)
		ws := dialDriver(t, n, drv)
		o := customer.CreateOrder(t)
		a.Admin.Assign(t, o.ID, drv.ID())
		ev, _ := nextJob(t, ws)
		require.Equal(t, wire.JobOffered, ev)
		ack := ws.Ask(map[string]any{"type": "decline", "order_id": o.ID})
		require.Equal(t, "ack", ack.Type, "%s", ack.Raw)
		require.Equal(t, "pending", a.Admin.Order(t, o.ID).Status)
		require.Zero(t, a.Admin.Driver(t, drv.ID()).ActiveOrders)
		// Another driver's answer is refused: the order is not his.
		other := a.CreateDriver(t, 1, true)
		a.Admin.Assign(t, o.ID, drv.ID())
		wsOther := dialDriver(t, n, other)
		refused := wsOther.Ask(map[string]any{"type": "accept", "order_id": o.ID})
		require.Equal(t, "error", refused.Type)
		require.Equal(t, "forbidden", refused.Code)
		// Customers do not answer offers.
		wsCust := e2e.Dial(t, "customer", n.Addr(), customer.Token, nil)
		refused = wsCust.Ask(map[string]any{"type": "accept", "order_id": o.ID})
		require.Equal(t, "forbidden", refused.Code)
	})

	t.Run("an offer not accepted in time expires once and frees the driver", func(t *testing.T) {
		drv := a.CreateDriver(t, 1, true)
		ws := dialDriver(t, n, drv)
		o := customer.CreateOrder(t)
		assigned := a.Admin.OrderAction(t, o.ID, "assign", map[string]any{"driver_id": drv.ID(), "offer_ttl_s": 5})
		expires, err := wire.ParseTimestamp(*assigned.OfferExpiresAt)
		require.NoError(t, err)
		require.Equal(t, 1, a.Admin.Driver(t, drv.ID()).ActiveOrders)
		ev, _ := nextJob(t, ws)
		require.Equal(t, wire.JobOffered, ev)

		ev, job := nextJob(t, ws)
		require.Equal(t, wire.JobWithdrawn, ev)
		require.Equal(t, "expired", job.Reason)
		require.False(t, time.Now().Before(expires), "withdrawn before the deadline")
		got := a.Admin.Order(t, o.ID)
		require.Equal(t, "pending", got.Status)
		require.Nil(t, got.DriverID)
		require.Nil(t, got.OfferExpiresAt)
		require.Zero(t, a.Admin.Driver(t, drv.ID()).ActiveOrders)
		require.Equal(t, []string{"order.created", "order.assigned", "order.offer_expired"}, timelineEvents(t, a, o.ID))

		// Too late to accept; the order can be offered again.
		drv.Post(t, "/v1/orders/"+o.ID+"/accept", nil).Problem(t, http.StatusForbidden, "forbidden")
		a.Admin.Assign(t, o.ID, drv.ID())
		require.Equal(t, "accepted", drv.OrderAction(t, o.ID, "accept", nil).Status)
	})

	t.Run("an accept after the deadline is refused even before the expiry fires", func(t *testing.T) {
		drv := a.CreateDriver(t, 1, true)
		o := customer.CreateOrder(t)
		assigned := a.Admin.OrderAction(t, o.ID, "assign", map[string]any{"driver_id": drv.ID(), "offer_ttl_s": 5})
		expires, err := wire.ParseTimestamp(*assigned.OfferExpiresAt)
		require.NoError(t, err)
		e2e.Eventually(t, 10*time.Second, func() bool { return !time.Now().Before(expires) }, "the deadline passes")
		r := drv.Post(t, "/v1/orders/"+o.ID+"/accept", nil)
		if r.Status == http.StatusConflict {
			r.Problem(t, http.StatusConflict, "offer_expired")
		} else {
			// The expiry fired first: the order is no longer his.
			r.Problem(t, http.StatusForbidden, "forbidden")
		}
		require.Eventually(t, func() bool { return a.Admin.Order(t, o.ID).Status == "pending" }, 10*time.Second, 100*time.Millisecond)
	})

	t.Run("unassign frees the driver, tells him, and the order can be assigned again", func(t *testing.T) {
		drv := a.CreateDriver(t, 1, true)
		ws := dialDriver(t, n, drv)
		o := customer.CreateOrder(t)
		a.Admin.Assign(t, o.ID, drv.ID())
		drv.OrderAction(t, o.ID, "accept", nil)
		ev, _ := nextJob(t, ws)
		require.Equal(t, wire.JobOffered, ev)
		// At capacity: a second order cannot be given to him.
		o2 := customer.CreateOrder(t)
		a.Admin.Post(t, "/v1/orders/"+o2.ID+"/assign", map[string]any{"driver_id": drv.ID()}).
			Problem(t, http.StatusConflict, "driver_unavailable")

		got := a.Admin.OrderAction(t, o.ID, "unassign", map[string]any{"reason": "stuck in traffic"})
		require.Equal(t, "pending", got.Status)
		require.Nil(t, got.DriverID)
		ev, job := nextJob(t, ws)
		require.Equal(t, wire.JobWithdrawn, ev)
		require.Equal(t, "unassigned", job.Reason)
		require.Zero(t, a.Admin.Driver(t, drv.ID()).ActiveOrders)
		a.Admin.Assign(t, o2.ID, drv.ID())

		// Not once picked up, and never by the driver himself.
		o3 := customer.CreateOrder(t)
		other := a.CreateDriver(t, 1, true)
		a.Admin.Assign(t, o3.ID, other.ID())
		other.OrderAction(t, o3.ID, "accept", nil)
		other.SetStatus(t, o3.ID, "picked_up")
		a.Admin.Post(t, "/v1/orders/"+o3.ID+"/unassign", nil).Problem(t, http.StatusConflict, "invalid_transition")
		other.Post(t, "/v1/orders/"+o3.ID+"/unassign", nil).Problem(t, http.StatusForbidden, "forbidden")
	})

	t.Run("cancelling an offered order withdraws the job", func(t *testing.T) {
		drv := a.CreateDriver(t, 1, true)
		ws := dialDriver(t, n, drv)
		o := customer.CreateOrder(t)
		a.Admin.Assign(t, o.ID, drv.ID())
		ev, _ := nextJob(t, ws)
		require.Equal(t, wire.JobOffered, ev)
		customer.SetStatus(t, o.ID, "cancelled")
		ev, job := nextJob(t, ws)
		require.Equal(t, wire.JobWithdrawn, ev)
		require.Equal(t, "cancelled", job.Reason)
	})

	t.Run("offer_ttl_s out of bounds", func(t *testing.T) {
		drv := a.CreateDriver(t, 1, true)
		o := customer.CreateOrder(t)
		for _, ttl := range []int{0, 4, 3601} {
			p := a.Admin.Post(t, "/v1/orders/"+o.ID+"/assign", map[string]any{"driver_id": drv.ID(), "offer_ttl_s": ttl},
				e2e.InvalidRequest()).Problem(t, http.StatusUnprocessableEntity, "validation_failed")
			require.Equal(t, []string{"offer_ttl_s"}, p.Fields())
		}
	})
}

func TestDriverAdministration(t *testing.T) {
	_, a := e2e.Up(t, apiOnly)
	customer := a.Signup(t)

	t.Run("capacity", func(t *testing.T) {
		drv := a.CreateDriver(t, 2, true)
		var d wire.Driver
		a.Admin.Patch(t, "/v1/drivers/"+drv.ID(), map[string]any{"capacity": 3}).Decode(t, http.StatusOK, &d)
		require.Equal(t, 3, d.Capacity)
		for range 2 {
			o := customer.CreateOrder(t)
			a.Admin.Assign(t, o.ID, drv.ID())
		}
		// Not below the orders he holds.
		a.Admin.Patch(t, "/v1/drivers/"+drv.ID(), map[string]any{"capacity": 1}).Problem(t, http.StatusConflict, "capacity_in_use")
		require.Equal(t, 3, a.Admin.Driver(t, drv.ID()).Capacity)
		a.Admin.Patch(t, "/v1/drivers/"+drv.ID(), map[string]any{"capacity": 2}).Decode(t, http.StatusOK, &d)
		require.Equal(t, 2, d.Capacity)
		require.Equal(t, "busy", d.Status)
		for _, bad := range []map[string]any{{"capacity": 0}, {"capacity": 1000}, {}} {
			a.Admin.Patch(t, "/v1/drivers/"+drv.ID(), bad, e2e.InvalidRequest()).Problem(t, http.StatusUnprocessableEntity, "validation_failed")
		}
		drv.Patch(t, "/v1/drivers/"+drv.ID(), map[string]any{"capacity": 5}).Problem(t, http.StatusForbidden, "forbidden")
	})

	t.Run("forcing a driver unavailable withdraws his open offers only", func(t *testing.T) {
		drv := a.CreateDriver(t, 3, true)
		offered, accepted := customer.CreateOrder(t), customer.CreateOrder(t)
		a.Admin.Assign(t, offered.ID, drv.ID())
		a.Admin.Assign(t, accepted.ID, drv.ID())
		drv.OrderAction(t, accepted.ID, "accept", nil)
		var d wire.Driver
		a.Admin.Patch(t, "/v1/drivers/"+drv.ID(), map[string]any{"available": false}).Decode(t, http.StatusOK, &d)
		require.False(t, d.Available)
		require.Equal(t, "pending", a.Admin.Order(t, offered.ID).Status)
		require.Equal(t, "accepted", a.Admin.Order(t, accepted.ID).Status)
		require.Equal(t, 1, a.Admin.Driver(t, drv.ID()).ActiveOrders)
	})
}

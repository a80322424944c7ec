package process_test

// An offer's deadline is a row, not a timer (DESIGN.md §2, §7): it fires
// however the nodes die. Two nodes share one database; offers are made,
// and one node is killed with SIGKILL just as they fall due — while its
// scheduler may hold leases on some of them. Every offer must still
// expire, exactly once, on the surviving node: the order pending again,
// one order.offer_expired in its timeline, the driver's slot free.

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/internal/fleet/fleettest"
)

func TestOfferExpiresOnceWhenItsNodeIsKilled(t *testing.T) {
	const (
		rounds = 3
		offers = 8 // per round, one driver each
		ttl    = 5 * time.Second
		// The deadline scheduler's lease (deadlines.DefaultLease) plus the
		// time the survivor takes to see it: an offer whose lease died
		// with the node fires again within it.
		lease = 15 * time.Second
	)
	f := newFleet(t, "offerkill", "", nil)
	deadlines := deadlineRows(t, f, "")
	a := fleettest.Start(t, f, "a", nil)
	b := fleettest.Start(t, f, "b", nil)
	apiA, apiB := e2e.ConnectNode(t, f, a), e2e.ConnectNode(t, f, b)
	customer := apiA.Signup(t)

	for round := range rounds {
		type offer struct{ order, driver string }
		var made []offer
		for i := range offers {
			d := apiA.CreateDriver(t, 1, true)
			o := customer.CreateOrder(t)
			// Offers are made on both nodes, so either scheduler may fire them.
			admin := apiA.Admin
			if i%2 == 1 {
				admin = apiB.Admin
			}
			got := admin.OrderAction(t, o.ID, "assign", map[string]any{"driver_id": d.ID(), "offer_ttl_s": int(ttl.Seconds())})
			require.Equal(t, "assigned", got.Status)
			made = append(made, offer{o.ID, d.ID()})
		}
		// Kill node a as the deadlines fall due — as soon as the first
		// offer has expired: its scheduler may hold leases on others.
		survivor := apiB.Admin
		e2e.Eventually(t, ttl+10*time.Second, func() bool {
			return survivor.Order(t, made[0].order).Status == "pending" || deadlines() < len(made)
		}, "round %d: no offer expired", round)
		require.NoError(t, a.Kill())
		<-a.Exited()

		for _, m := range made {
			require.Eventually(t, func() bool { return survivor.Order(t, m.order).Status == "pending" },
				ttl+lease+10*time.Second, 100*time.Millisecond, "round %d: order %s never expired", round, m.order)
		}
		// Every deadline fired and settled, the dead node's leased ones
		// too (fired again by the survivor once their leases ran out):
		// nothing is left to fire twice.
		e2e.Eventually(t, lease+10*time.Second, func() bool { return deadlines() == 0 },
			"round %d: deadline rows left after every lease", round)
		for _, m := range made {
			var expired int
			for _, e := range survivor.Timeline(t, m.order) {
				if e.Metadata["event"] == "order.offer_expired" {
					expired++
					require.Equal(t, m.driver, e.Metadata["driver_id"])
				}
			}
			require.Equal(t, 1, expired, "round %d: order %s expired %d times", round, m.order, expired)
			require.Zero(t, survivor.Driver(t, m.driver).ActiveOrders, "round %d: driver %s still holds a slot", round, m.driver)
			o := survivor.Order(t, m.order)
			require.Nil(t, o.DriverID)
			require.Nil(t, o.OfferExpiresAt)
		}
		require.NoError(t, a.Restart())
		fleettest.WaitReady(t, a)
		r := apiA.Admin.Get(t, "/v1/cluster")
		require.Equal(t, http.StatusOK, r.Status, fmt.Sprintf("round %d: node a back", round))
	}
}

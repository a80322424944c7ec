package process_test

// A dispatch round is a row, not a timer (DESIGN.md §7): a run searching
// for a driver keeps searching, and escalates exactly once, however the
// nodes die. Two nodes share one database; auto orders are placed where
// no driver stands, so each run's round finds nobody and re-arms itself
// every round interval until the run's deadline. One node is SIGKILLed
// while its scheduler holds rounds; every run must still escalate on the
// survivor, exactly once (one order.dispatch_failed), its row gone.

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/internal/fleet/fleettest"
	"github.com/outrider/outrider/wire"
)

func TestDispatchRunEscalatesOnceWhenItsNodeIsKilled(t *testing.T) {
	const (
		orders   = 10
		deadline = 6 * time.Second
		lease    = 15 * time.Second // deadlines.DefaultLease
	)
	env := map[string]string{
		"OUTRIDER_DISPATCH_DEADLINE":       deadline.String(),
		"OUTRIDER_DISPATCH_ROUND_INTERVAL": "300ms",
	}
	f := newFleet(t, "dispatchkill", "", env)
	rows := deadlineRows(t, f, "dispatch")
	a := fleettest.Start(t, f, "a", nil)
	b := fleettest.Start(t, f, "b", nil)
	apiA, apiB := e2e.ConnectNode(t, f, a), e2e.ConnectNode(t, f, b)
	customer := apiA.Signup(t)

	var ids []string
	for i := range orders {
		admin := apiA.Admin
		if i%2 == 1 {
			admin = apiB.Admin
		}
		req := e2e.ValidOrder()
		req["pickup"] = map[string]any{"address": "Nowhere", "lat": -54.8 + float64(i)*0.01, "lng": -68.3}
		req["dispatch"] = "auto"
		req["customer_id"] = customer.ID()
		var o wire.Order
		admin.Post(t, "/v1/orders", req).Decode(t, http.StatusCreated, &o)
		ids = append(ids, o.ID)
	}
	survivor := apiB.Admin
	var d wire.Dispatch
	survivor.Get(t, "/v1/orders/"+ids[0]+"/dispatch").Decode(t, http.StatusOK, &d)
	require.Equal(t, "searching", d.State)
	// Kill node a while the rounds go round: its scheduler holds some.
	require.NoError(t, a.Kill())
	<-a.Exited()

	for _, id := range ids {
		e2e.Eventually(t, deadline+lease+15*time.Second, func() bool {
			survivor.Get(t, "/v1/orders/"+id+"/dispatch").Decode(t, http.StatusOK, &d)
			return d.State == "failed"
		}, "order %s never escalated (state %s)", id, d.State)
		require.Equal(t, "deadline", d.EscalationReason)
	}
	e2e.Eventually(t, lease+10*time.Second, func() bool { return rows() == 0 }, "dispatch rows left")
	for _, id := range ids {
		var failed int
		for _, e := range survivor.Timeline(t, id) {
			if e.Metadata["event"] == "order.dispatch_failed" {
				failed++
			}
		}
		require.Equal(t, 1, failed, "order %s escalated %d times", id, failed)
		require.Equal(t, "pending", survivor.Order(t, id).Status)
	}
}

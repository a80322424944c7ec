package invariants_test

// Invariants I1 and I2 (DESIGN.md §2) through the HTTP API of one
// in-process node on its own Postgres schema. Each test starts a node, so
// none of them may run in parallel (Proto.Actor's remote start-up is not
// safe to run twice at once in one process).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// world is a node with its admin and a customer signed in.
type world struct {
	*e2e.API
	customer *e2e.Caller
}

func setupWorld(t *testing.T) *world {
	t.Helper()
	_, a := e2e.Up(t, nil)
	return &world{API: a, customer: a.Signup(t)}
}

// drivers creates n drivers of the given capacity, ten at a time, each of
// whom signs in and declares themselves available. It returns them.
func (w *world) drivers(t *testing.T, n, capacity int) []*e2e.Caller {
	t.Helper()
	out := make([]*e2e.Caller, n)
	g := e2e.NewGoT(t.Context())
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = w.CreateDriver(g, capacity, true)
		})
	}
	wg.Wait()
	require.Empty(t, g.Failures())
	return out
}

func idsOf(callers []*e2e.Caller) []string {
	out := make([]string, len(callers))
	for i, c := range callers {
		out[i] = c.ID()
	}
	return out
}

func (w *world) cancel(t *testing.T, id string) {
	t.Helper()
	w.Admin.SetStatus(t, id, "cancelled")
}

// driverTable returns every driver by id (GET /v1/drivers, all pages).
func (w *world) driverTable(t *testing.T) map[string]wire.Driver {
	t.Helper()
	out := map[string]wire.Driver{}
	path := "/v1/drivers?limit=200"
	for range 100 {
		var page wire.Page[wire.Driver]
		w.Admin.Get(t, path).Decode(t, http.StatusOK, &page)
		for _, d := range page.Items {
			out[d.ID] = d
		}
		if page.NextCursor == nil {
			return out
		}
		path = "/v1/drivers?limit=200&cursor=" + *page.NextCursor
	}
	require.FailNow(t, "driver list does not end")
	return nil
}

// answer is one HTTP outcome of a concurrent request.
type answer struct {
	resp *e2e.Response
	err  error
}

// code is the answer's problem code, if any.
func (a answer) code() string {
	var p e2e.Problem
	if a.resp.Status >= 400 && json.Unmarshal(a.resp.Body, &p) == nil {
		return p.Code
	}
	return ""
}

// race sends n requests as the admin at once (released together) and
// returns their answers in argument order. The requests are validated
// against the OpenAPI document before the release, so that they leave
// together; answers it does not describe fail the test.
func (w *world) race(t *testing.T, n int, req func(i int) (method, path string, body any)) []answer {
	t.Helper()
	out := make([]answer, n)
	g := e2e.NewGoT(t.Context())
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		method, path, body := req(i)
		w.Admin.Check(t, method, path, body)
		wg.Go(func() {
			<-start
			out[i].resp, out[i].err = w.Admin.Try(g, method, path, body, e2e.Checked())
		})
	}
	close(start)
	wg.Wait()
	require.Empty(t, g.Failures())
	return out
}

// TestConcurrentAssignsOfOneOrderHaveOneWinner is I1: in every round, 50
// admins assign one fresh order to 50 different available drivers at the
// same instant. Exactly one gets 200 and the 49 others 409
// order_already_assigned; the order names the winner; the winner is the
// only driver holding an order; the timeline has one assignment. The
// order is then cancelled, freeing the driver for the next round.
func TestConcurrentAssignsOfOneOrderHaveOneWinner(t *testing.T) {
	const (
		rounds  = 20
		drivers = 50
	)
	w := setupWorld(t)
	ids := idsOf(w.drivers(t, drivers, 1))
	wins := map[string]int{}
	for round := range rounds {
		orderID := w.customer.CreateOrder(t).ID
		answers := w.race(t, drivers, func(i int) (string, string, any) {
			return http.MethodPost, "/v1/orders/" + orderID + "/assign", map[string]string{"driver_id": ids[i]}
		})
		winner := ""
		for i, a := range answers {
			require.NoError(t, a.err, "round %d driver %d", round, i)
			switch a.resp.Status {
			case http.StatusOK:
				require.Empty(t, winner, "round %d: two winners: %s and %s", round, winner, ids[i])
				winner = ids[i]
				var o wire.Order
				a.resp.Decode(t, http.StatusOK, &o)
				require.Equal(t, ids[i], o.Driver())
				require.Equal(t, int64(2), o.Version)
			case http.StatusConflict:
				require.Equal(t, "order_already_assigned", a.code(), "round %d driver %d: %s", round, i, a.resp)
			default:
				require.Failf(t, "unexpected answer", "round %d driver %d: %s", round, i, a.resp)
			}
		}
		require.NotEmpty(t, winner, "round %d: nobody won", round)
		wins[winner]++

		o := w.Admin.Order(t, orderID)
		require.Equal(t, "assigned", o.Status)
		require.Equal(t, winner, o.Driver())
		require.Equal(t, int64(2), o.Version)

		table := w.driverTable(t)
		holding := 0
		for _, id := range ids {
			d := table[id]
			switch d.ActiveOrders {
			case 0:
			case 1:
				holding++
				require.Equal(t, winner, id, "round %d: a loser holds an order", round)
				require.Equal(t, "busy", d.Status)
			default:
				require.Failf(t, "over capacity", "round %d: driver %s holds %d", round, id, d.ActiveOrders)
			}
		}
		require.Equal(t, 1, holding, "round %d", round)

		tl := w.Admin.Timeline(t, orderID)
		assigned := 0
		for _, it := range tl {
			if it.Metadata["event"] == "order.assigned" {
				assigned++
				require.Equal(t, winner, it.Metadata["driver_id"])
			}
		}
		require.Equal(t, 1, assigned, "round %d timeline: %+v", round, tl)
		require.Len(t, tl, 2)

		w.cancel(t, orderID)
		require.Equal(t, 0, w.Admin.Driver(t, winner).ActiveOrders, "round %d: cancel frees the driver", round)
	}
	t.Logf("%d rounds, %d distinct winners", rounds, len(wins))
}

// TestConcurrentAssignsToOneDriverRespectCapacity is I2: 20 pending orders
// are assigned to one driver at the same instant. Exactly capacity of them
// win; the others get 409 driver_unavailable and stay pending at version
// 1; the driver holds capacity orders and is busy. Cancelling the winners
// returns the driver to 0 and available, and the next round reuses the
// losers plus fresh orders.
func TestConcurrentAssignsToOneDriverRespectCapacity(t *testing.T) {
	w := setupWorld(t)
	for _, tc := range []struct {
		capacity, rounds int
	}{
		{capacity: 1, rounds: 15},
		{capacity: 3, rounds: 6},
	} {
		t.Run(fmt.Sprintf("capacity_%d", tc.capacity), func(t *testing.T) {
			const orders = 20
			driverID := w.drivers(t, 1, tc.capacity)[0].ID()
			pending := make([]string, 0, orders)
			for round := range tc.rounds {
				for len(pending) < orders {
					pending = append(pending, w.customer.CreateOrder(t).ID)
				}
				answers := w.race(t, orders, func(i int) (string, string, any) {
					return http.MethodPost, "/v1/orders/" + pending[i] + "/assign", map[string]string{"driver_id": driverID}
				})
				var won, lost []string
				for i, a := range answers {
					require.NoError(t, a.err, "round %d order %d", round, i)
					switch a.resp.Status {
					case http.StatusOK:
						won = append(won, pending[i])
					case http.StatusConflict:
						require.Equal(t, "driver_unavailable", a.code(), "round %d order %d: %s", round, i, a.resp)
						lost = append(lost, pending[i])
					default:
						require.Failf(t, "unexpected answer", "round %d order %d: %s", round, i, a.resp)
					}
				}
				require.Len(t, won, tc.capacity, "round %d", round)

				d := w.Admin.Driver(t, driverID)
				require.Equal(t, tc.capacity, d.ActiveOrders, "round %d", round)
				require.Equal(t, "busy", d.Status, "round %d", round)
				for _, id := range won {
					o := w.Admin.Order(t, id)
					require.Equal(t, "assigned", o.Status)
					require.Equal(t, driverID, o.Driver())
				}
				for _, id := range lost {
					o := w.Admin.Order(t, id)
					require.Equal(t, "pending", o.Status, "round %d: loser %s", round, id)
					require.Equal(t, int64(1), o.Version, "round %d: loser %s was written", round, id)
					require.Nil(t, o.DriverID)
				}

				for _, id := range won {
					w.cancel(t, id)
				}
				d = w.Admin.Driver(t, driverID)
				require.Equal(t, 0, d.ActiveOrders, "round %d: cancelling frees the driver", round)
				require.Equal(t, "available", d.Status)
				pending = lost
			}
		})
	}
}

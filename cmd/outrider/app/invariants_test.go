package app_test

// Invariants I1 and I2 (DESIGN.md §2) through the HTTP API of one
// in-process node on its own Postgres schema. Each test starts a node, so
// none of them may run in parallel (Proto.Actor's remote start-up is not
// safe to run twice at once in one process).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
)

// client is a small JSON client of the v1 API.
type client struct {
	base string
	hc   *http.Client
}

func newClient(addr string) *client {
	return &client{base: "http://" + addr, hc: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 200, MaxIdleConnsPerHost: 200},
	}}
}

// do sends a JSON request and returns the status and body. It never calls
// t, so goroutines may use it.
func (c *client) do(method, path, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// must sends a request, requires status want and decodes the body into out
// (if not nil).
func (c *client) must(t *testing.T, method, path, token string, body any, want int, out any) {
	t.Helper()
	status, b, err := c.do(method, path, token, body)
	require.NoError(t, err, "%s %s", method, path)
	require.Equal(t, want, status, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), "%s %s: %s", method, path, b)
	}
}

type tokens struct {
	AccessToken string `json:"access_token"`
	User        struct {
		ID string `json:"id"`
	} `json:"user"`
}

type orderJSON struct {
	ID       string  `json:"id"`
	DriverID *string `json:"driver_id"`
	Status   string  `json:"status"`
	Version  int64   `json:"version"`
}

type driverJSON struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	Capacity     int    `json:"capacity"`
	ActiveOrders int    `json:"active_orders"`
}

type timelineJSON struct {
	Items []struct {
		Seq      int64             `json:"seq"`
		Status   string            `json:"status"`
		Metadata map[string]string `json:"metadata"`
	} `json:"items"`
}

type problemJSON struct {
	Code string `json:"code"`
}

// world is a node with an admin and a customer signed in.
type world struct {
	api      *client
	admin    string // access token
	customer string // access token
}

func setupWorld(t *testing.T) *world {
	t.Helper()
	n := e2e.Start(t, nil)
	w := &world{api: newClient(n.Addr())}
	var tk tokens
	w.api.must(t, http.MethodPost, "/v1/auth/login", "",
		map[string]string{"email": e2e.AdminEmail, "password": e2e.AdminPassword}, http.StatusOK, &tk)
	w.admin = tk.AccessToken
	w.api.must(t, http.MethodPost, "/v1/auth/signup", "",
		map[string]string{"name": "Cass Customer", "email": "customer@outrider.test", "password": "customer-password"},
		http.StatusCreated, &tk)
	w.customer = tk.AccessToken
	return w
}

// drivers creates n drivers of the given capacity, each of whom signs in
// and declares themselves available. It returns their ids.
func (w *world) drivers(t *testing.T, n, capacity int, tag string) []string {
	t.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ids[i], errs[i] = w.driver(capacity, fmt.Sprintf("driver-%s-%d@outrider.test", tag, i))
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	return ids
}

func (w *world) driver(capacity int, email string) (string, error) {
	const password = "driver-password"
	status, b, err := w.api.do(http.MethodPost, "/v1/users", w.admin, map[string]any{
		"name": "Driver", "email": email, "password": password, "role": "driver", "capacity": capacity,
	})
	if err != nil || status != http.StatusCreated {
		return "", fmt.Errorf("create driver: %d %s %v", status, b, err)
	}
	var tk tokens
	status, b, err = w.api.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("driver login: %d %s %v", status, b, err)
	}
	if err := json.Unmarshal(b, &tk); err != nil {
		return "", err
	}
	status, b, err = w.api.do(http.MethodPut, "/v1/drivers/me/availability", tk.AccessToken, map[string]bool{"available": true})
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("availability: %d %s %v", status, b, err)
	}
	return tk.User.ID, nil
}

func (w *world) newOrder(t *testing.T) string {
	t.Helper()
	var o orderJSON
	w.api.must(t, http.MethodPost, "/v1/orders", w.customer, map[string]any{
		"pickup": map[string]string{"address": "1 Pickup Rd"}, "dropoff": map[string]string{"address": "2 Dropoff St"},
		"delivery_option": "standard",
	}, http.StatusCreated, &o)
	require.Equal(t, "pending", o.Status)
	return o.ID
}

func (w *world) order(t *testing.T, id string) orderJSON {
	t.Helper()
	var o orderJSON
	w.api.must(t, http.MethodGet, "/v1/orders/"+id, w.admin, nil, http.StatusOK, &o)
	return o
}

func (w *world) cancel(t *testing.T, id string) {
	t.Helper()
	w.api.must(t, http.MethodPut, "/v1/orders/"+id+"/status", w.admin, map[string]string{"status": "cancelled"}, http.StatusOK, nil)
}

// driverTable returns every driver by id (GET /v1/drivers, all pages).
func (w *world) driverTable(t *testing.T) map[string]driverJSON {
	t.Helper()
	out := map[string]driverJSON{}
	path := "/v1/drivers?limit=200"
	for range 100 {
		var page struct {
			Items      []driverJSON `json:"items"`
			NextCursor *string      `json:"next_cursor"`
		}
		w.api.must(t, http.MethodGet, path, w.admin, nil, http.StatusOK, &page)
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

func (w *world) driverByID(t *testing.T, id string) driverJSON {
	t.Helper()
	var d driverJSON
	w.api.must(t, http.MethodGet, "/v1/drivers/"+id, w.admin, nil, http.StatusOK, &d)
	return d
}

// answer is one HTTP outcome of a concurrent request.
type answer struct {
	status int
	code   string // problem code, if any
	body   []byte
	err    error
}

// race sends n requests at once (released together) and returns their
// answers in argument order.
func (w *world) race(n int, req func(i int) (method, path string, body any)) []answer {
	out := make([]answer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		method, path, body := req(i)
		wg.Go(func() {
			<-start
			a := &out[i]
			a.status, a.body, a.err = w.api.do(method, path, w.admin, body)
			var p problemJSON
			if a.err == nil && a.status >= 400 && json.Unmarshal(a.body, &p) == nil {
				a.code = p.Code
			}
		})
	}
	close(start)
	wg.Wait()
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
	ids := w.drivers(t, drivers, 1, "i1")
	wins := map[string]int{}
	for round := range rounds {
		orderID := w.newOrder(t)
		answers := w.race(drivers, func(i int) (string, string, any) {
			return http.MethodPost, "/v1/orders/" + orderID + "/assign", map[string]string{"driver_id": ids[i]}
		})
		winner := ""
		for i, a := range answers {
			require.NoError(t, a.err, "round %d driver %d", round, i)
			switch a.status {
			case http.StatusOK:
				require.Empty(t, winner, "round %d: two winners: %s and %s", round, winner, ids[i])
				winner = ids[i]
				var o orderJSON
				require.NoError(t, json.Unmarshal(a.body, &o))
				require.Equal(t, ids[i], *o.DriverID)
				require.Equal(t, int64(2), o.Version)
			case http.StatusConflict:
				require.Equal(t, "order_already_assigned", a.code, "round %d driver %d: %s", round, i, a.body)
			default:
				require.Failf(t, "unexpected answer", "round %d driver %d: %d %s", round, i, a.status, a.body)
			}
		}
		require.NotEmpty(t, winner, "round %d: nobody won", round)
		wins[winner]++

		o := w.order(t, orderID)
		require.Equal(t, "assigned", o.Status)
		require.Equal(t, winner, *o.DriverID)
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

		var tl timelineJSON
		w.api.must(t, http.MethodGet, "/v1/orders/"+orderID+"/timeline", w.admin, nil, http.StatusOK, &tl)
		assigned := 0
		for _, it := range tl.Items {
			if it.Metadata["event"] == "order.assigned" {
				assigned++
				require.Equal(t, winner, it.Metadata["driver_id"])
			}
		}
		require.Equal(t, 1, assigned, "round %d timeline: %+v", round, tl.Items)
		require.Len(t, tl.Items, 2)

		w.cancel(t, orderID)
		require.Equal(t, 0, w.driverByID(t, winner).ActiveOrders, "round %d: cancel frees the driver", round)
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
			driverID := w.drivers(t, 1, tc.capacity, fmt.Sprintf("i2-%d", tc.capacity))[0]
			pending := make([]string, 0, orders)
			for round := range tc.rounds {
				for len(pending) < orders {
					pending = append(pending, w.newOrder(t))
				}
				answers := w.race(orders, func(i int) (string, string, any) {
					return http.MethodPost, "/v1/orders/" + pending[i] + "/assign", map[string]string{"driver_id": driverID}
				})
				var won, lost []string
				for i, a := range answers {
					require.NoError(t, a.err, "round %d order %d", round, i)
					switch a.status {
					case http.StatusOK:
						won = append(won, pending[i])
					case http.StatusConflict:
						require.Equal(t, "driver_unavailable", a.code, "round %d order %d: %s", round, i, a.body)
						lost = append(lost, pending[i])
					default:
						require.Failf(t, "unexpected answer", "round %d order %d: %d %s", round, i, a.status, a.body)
					}
				}
				require.Len(t, won, tc.capacity, "round %d", round)

				d := w.driverByID(t, driverID)
				require.Equal(t, tc.capacity, d.ActiveOrders, "round %d", round)
				require.Equal(t, "busy", d.Status, "round %d", round)
				for _, id := range won {
					o := w.order(t, id)
					require.Equal(t, "assigned", o.Status)
					require.Equal(t, driverID, *o.DriverID)
				}
				for _, id := range lost {
					o := w.order(t, id)
					require.Equal(t, "pending", o.Status, "round %d: loser %s", round, id)
					require.Equal(t, int64(1), o.Version, "round %d: loser %s was written", round, id)
					require.Nil(t, o.DriverID)
				}

				for _, id := range won {
					w.cancel(t, id)
				}
				d = w.driverByID(t, driverID)
				require.Equal(t, 0, d.ActiveOrders, "round %d: cancelling frees the driver", round)
				require.Equal(t, "available", d.Status)
				pending = lost
			}
		})
	}
}

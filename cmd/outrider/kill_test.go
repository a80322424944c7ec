package main_test

// Invariant I3 (DESIGN.md §2): a command answered 2xx survives kill -9.
// The test builds the real binary with -race, runs `outrider serve` as a
// child process (internal/fleet) on a fresh Postgres schema, drives order lifecycles from several
// goroutines, SIGKILLs the process while requests are in flight, restarts
// it on the same schema and checks every acknowledged change is there —
// three times over — and that work continues, including on the orders
// whose commands were cut off by the kill. A race report of any run of
// the node fails the test.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/internal/fleet/fleettest"
)

const (
	adminEmail    = "admin@kill.test"
	adminPassword = "admin-password"
	// workers drive one order lifecycle at a time each, with a driver of
	// their own.
	workers = 6
	// acksPerRun is how much acknowledged work happens before each kill.
	acksPerRun = 90
	// kills is how many times the node is killed and restarted.
	kills = 3
)

// newFleet returns a fleet for the test's nodes (none started yet): one
// schema, NATS namespace and stream, this file's admin, children built
// with -race and any race report failing the test. env goes to every node.
func newFleet(t *testing.T, name, provider string, env map[string]string) *fleet.Fleet {
	t.Helper()
	return fleettest.New(t, fleettest.Options{Options: fleet.Options{
		Name: name, Provider: provider, AdminEmail: adminEmail, AdminPassword: adminPassword, Env: env,
	}})
}

// api is a JSON client of a node, whichever run of it is current (a
// fleet node keeps its address across restarts).
type api struct {
	c *fleet.Client
}

func (a *api) do(method, path, token string, body any) (int, []byte, error) {
	r, err := a.c.Do(context.Background(), method, path, token, body)
	return r.Status, r.Body, err
}

func (a *api) must(t *testing.T, method, path, token string, body any, want int, out any) {
	t.Helper()
	status, b, err := a.do(method, path, token, body)
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

// ack is one change the server acknowledged with a 2xx.
type ack struct {
	order   string
	version int64
	status  string
}

// worker runs order lifecycles for one driver.
type worker struct {
	driverID, driverToken string
	current               string   // the order in progress, "" when none
	orders                []string // every order it created
}

type harness struct {
	api      *api
	admin    string
	customer string
	workers  []*worker

	mu   sync.Mutex
	acks []ack
	// inflight counts requests sent and not yet answered.
	inflight atomic.Int64
}

func (h *harness) record(a ack) {
	h.mu.Lock()
	h.acks = append(h.acks, a)
	h.mu.Unlock()
}

func (h *harness) ackCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acks)
}

// next is the request that moves an order in status on, or a creation
// when status is "" (no order) or terminal.
func (h *harness) next(w *worker, status string) (method, path, token string, body any) {
	p := "/v1/orders/" + w.current
	switch status {
	case "pending":
		return http.MethodPost, p + "/assign", h.admin, map[string]string{"driver_id": w.driverID}
	case "assigned":
		return http.MethodPost, p + "/accept", w.driverToken, nil
	case "accepted":
		return http.MethodPut, p + "/status", w.driverToken, map[string]string{"status": "picked_up"}
	case "picked_up":
		return http.MethodPut, p + "/status", w.driverToken, map[string]string{"status": "in_transit"}
	case "in_transit":
		return http.MethodPut, p + "/status", w.driverToken, map[string]string{"status": "delivered"}
	}
	return http.MethodPost, "/v1/orders", h.customer, map[string]any{
		"pickup": map[string]string{"address": "1 Pickup Rd"}, "dropoff": map[string]string{"address": "2 Dropoff St"},
		"delivery_option": "express",
	}
}

// drive runs w's lifecycles until maxOps requests were made, an answer is
// not 2xx (a failure before stop is set) or the server stops answering
// (expected once stop is set). It returns an error only for failures.
func (h *harness) drive(w *worker, status string, maxOps int, stop *atomic.Bool) error {
	for range maxOps {
		method, path, token, body := h.next(w, status)
		h.inflight.Add(1)
		code, b, err := h.api.do(method, path, token, body)
		h.inflight.Add(-1)
		if err != nil || code/100 != 2 {
			if stop.Load() {
				return nil // the kill cut it off; the outcome is unknown
			}
			return fmt.Errorf("%s %s: %d %s %v", method, path, code, b, err)
		}
		var o orderJSON
		if err := json.Unmarshal(b, &o); err != nil {
			return fmt.Errorf("%s %s: %w: %s", method, path, err, b)
		}
		h.record(ack{order: o.ID, version: o.Version, status: o.Status})
		if w.current == "" {
			w.current = o.ID
			w.orders = append(w.orders, o.ID)
		}
		status = o.Status
		if status == "delivered" {
			w.current, status = "", ""
		}
	}
	return nil
}

// resume is where a worker picks up after a restart: the order it was
// working on, as the server now has it ("" if its creation was lost with
// the kill, which is fine: it was never acknowledged).
func (h *harness) resume(t *testing.T, w *worker) string {
	t.Helper()
	if w.current == "" {
		return ""
	}
	code, b, err := h.api.do(http.MethodGet, "/v1/orders/"+w.current, h.admin, nil)
	require.NoError(t, err)
	if code == http.StatusNotFound {
		w.current = ""
		return ""
	}
	require.Equal(t, http.StatusOK, code, "%s", b)
	var o orderJSON
	require.NoError(t, json.Unmarshal(b, &o))
	if o.Status == "delivered" {
		w.current = ""
		return ""
	}
	return o.Status
}

// run drives every worker until acks reach target (then calls onTarget,
// e.g. to kill the server while requests are in flight) or maxOps each.
// Workers resume their order in progress first.
func (h *harness) run(t *testing.T, target, maxOps int, onTarget func()) {
	t.Helper()
	statuses := make([]string, len(h.workers))
	for i, w := range h.workers {
		statuses[i] = h.resume(t, w)
	}
	var stop atomic.Bool
	errs := make([]error, len(h.workers))
	var wg sync.WaitGroup
	for i, w := range h.workers {
		wg.Go(func() { errs[i] = h.drive(w, statuses[i], maxOps, &stop) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if onTarget != nil {
		// Until the target, or until every worker has stopped (a failure
		// is then reported below, not hidden behind a time-out).
		deadline := time.After(60 * time.Second)
	wait:
		for h.ackCount() < target {
			select {
			case <-done:
				break wait
			case <-deadline:
				require.FailNow(t, "too slow", "%d acks within 60s, got %d", target, h.ackCount())
			case <-time.After(5 * time.Millisecond):
			}
		}
		stop.Store(true)
		onTarget()
	}
	<-done
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// verify checks every acknowledged change against what the server has now.
func (h *harness) verify(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	acks := append([]ack(nil), h.acks...)
	h.mu.Unlock()
	byOrder := map[string][]ack{}
	for _, a := range acks {
		byOrder[a.order] = append(byOrder[a.order], a)
	}
	current := map[string]orderJSON{}
	for id, as := range byOrder {
		var o orderJSON
		h.api.must(t, http.MethodGet, "/v1/orders/"+id, h.admin, nil, http.StatusOK, &o)
		current[id] = o
		var tl struct {
			Items []struct {
				Seq    int64  `json:"seq"`
				Status string `json:"status"`
			} `json:"items"`
		}
		h.api.must(t, http.MethodGet, "/v1/orders/"+id+"/timeline", h.admin, nil, http.StatusOK, &tl)
		require.Len(t, tl.Items, int(o.Version), "order %s: timeline is not 1..version", id)
		for i, it := range tl.Items {
			require.Equal(t, int64(i+1), it.Seq, "order %s timeline", id)
		}
		var last ack
		for _, a := range as {
			require.GreaterOrEqual(t, o.Version, a.version, "order %s lost acknowledged version %d", id, a.version)
			require.Equal(t, a.status, tl.Items[a.version-1].Status, "order %s seq %d", id, a.version)
			if a.version > last.version {
				last = a
			}
		}
		if o.Version == last.version {
			require.Equal(t, last.status, o.Status, "order %s at its last acknowledged version", id)
		}
	}
	// Reservations survived exactly as the orders that hold them (I2).
	for _, w := range h.workers {
		holding := 0
		for _, id := range w.orders {
			o, ok := current[id]
			if !ok {
				h.api.must(t, http.MethodGet, "/v1/orders/"+id, h.admin, nil, http.StatusOK, &o)
			}
			switch o.Status {
			case "assigned", "accepted", "picked_up", "in_transit":
				holding++
			}
		}
		var d struct {
			ActiveOrders int `json:"active_orders"`
		}
		h.api.must(t, http.MethodGet, "/v1/drivers/"+w.driverID, h.admin, nil, http.StatusOK, &d)
		require.Equal(t, holding, d.ActiveOrders, "driver %s", w.driverID)
	}
}

func (h *harness) signIn(t *testing.T) {
	t.Helper()
	var tk tokens
	h.api.must(t, http.MethodPost, "/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}, http.StatusOK, &tk)
	h.admin = tk.AccessToken
	h.api.must(t, http.MethodPost, "/v1/auth/signup", "",
		map[string]string{"name": "Kim Customer", "email": "customer@kill.test", "password": "customer-password"},
		http.StatusCreated, &tk)
	h.customer = tk.AccessToken
	for i := range workers {
		email := fmt.Sprintf("driver-%d@kill.test", i)
		h.api.must(t, http.MethodPost, "/v1/users", h.admin, map[string]any{
			"name": "Driver", "email": email, "password": "driver-password", "role": "driver",
		}, http.StatusCreated, nil)
		h.api.must(t, http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": "driver-password"}, http.StatusOK, &tk)
		h.api.must(t, http.MethodPut, "/v1/drivers/me/availability", tk.AccessToken, map[string]bool{"available": true}, http.StatusOK, nil)
		h.workers = append(h.workers, &worker{driverID: tk.User.ID, driverToken: tk.AccessToken})
	}
}

func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	// One member of the nats membership (serve's default): every restart
	// joins afresh while the killed run's record is still in the directory.
	f := newFleet(t, "kill", "", nil)
	srv := fleettest.Start(t, f, "node", nil)
	h := &harness{api: &api{c: srv.Client()}}
	h.signIn(t)
	var caught int64 // requests in flight at the moments of the kills
	for k := range kills {
		var inflight int64
		h.run(t, h.ackCount()+acksPerRun, 2000, func() {
			inflight = h.inflight.Load()
			require.NoError(t, srv.Kill())
		})
		caught += inflight
		inProgress := 0
		for _, w := range h.workers {
			if w.current != "" {
				inProgress++
			}
		}
		t.Logf("kill %d: %d acknowledged changes so far, %d requests in flight at the kill, %d orders in progress",
			k+1, h.ackCount(), inflight, inProgress)
		h.api.c.HTTP.CloseIdleConnections()
		require.NoError(t, srv.Restart())
		fleettest.WaitReady(t, srv)
		h.verify(t)
	}

	// After the last restart every worker finishes the order the kill
	// interrupted (at most 5 steps) and runs at least one whole new
	// lifecycle (6 steps): all 12 requests of each must succeed.
	before := h.ackCount()
	h.run(t, 0, 12, nil)
	require.Equal(t, workers*12, h.ackCount()-before)
	h.verify(t)
	require.Positive(t, caught, "no kill caught a request in flight")

	// And the node still shuts down cleanly.
	require.True(t, srv.Term(30*time.Second), "outrider did not stop on SIGTERM within 30s")
	require.True(t, srv.ExitState().Success(), "exit: %v", srv.ExitState())
}

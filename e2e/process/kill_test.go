package process_test

// Invariant I3 (DESIGN.md §2): a command answered 2xx survives kill -9.
// The test builds the real binary with -race, runs `outrider serve` as a
// child process (internal/fleet) on a fresh Postgres schema, drives order lifecycles from several
// goroutines, SIGKILLs the process while requests are in flight, restarts
// it on the same schema and checks every acknowledged change is there —
// three times over — and that work continues, including on the orders
// whose commands were cut off by the kill. A race report of any run of
// the node fails the test.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/internal/fleet/fleettest"
	"github.com/outrider/outrider/wire"
)

const (
	// workers drive one order lifecycle at a time each, with a driver of
	// their own.
	workers = 6
	// acksPerRun is how much acknowledged work happens before each kill.
	acksPerRun = 90
	// kills is how many times the node is killed and restarted.
	kills = 3
)

// ack is one change the server acknowledged with a 2xx.
type ack struct {
	order   string
	version int64
	status  string
}

// worker runs order lifecycles for one driver.
type worker struct {
	driver  *e2e.Caller
	current string   // the order in progress, "" when none
	orders  []string // every order it created
}

type harness struct {
	api      *e2e.API // its Admin is the admin
	customer *e2e.Caller
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
func (h *harness) next(w *worker, status string) (as *e2e.Caller, method, path string, body any) {
	p := "/v1/orders/" + w.current
	switch status {
	case "pending":
		return h.api.Admin, http.MethodPost, p + "/assign", map[string]string{"driver_id": w.driver.ID()}
	case "assigned":
		return w.driver, http.MethodPost, p + "/accept", nil
	case "accepted":
		return w.driver, http.MethodPut, p + "/status", map[string]string{"status": "picked_up"}
	case "picked_up":
		return w.driver, http.MethodPut, p + "/status", map[string]string{"status": "in_transit"}
	case "in_transit":
		return w.driver, http.MethodPut, p + "/status", map[string]string{"status": "delivered"}
	}
	return h.customer, http.MethodPost, "/v1/orders", map[string]any{
		"pickup": map[string]string{"address": "1 Pickup Rd"}, "dropoff": map[string]string{"address": "2 Dropoff St"},
		"delivery_option": "express",
	}
}

// drive runs w's lifecycles until maxOps requests were made, an answer is
// not 2xx (a failure before stop is set) or the server stops answering
// (expected once stop is set). An answer is an acknowledgement only if it
// is 2xx; a request that got none (refused, reset) has an unknown
// outcome. It runs on a goroutine of its own: it returns an error for
// failures, and only the kit's reports of answers that break the OpenAPI
// document go to t.
func (h *harness) drive(t *testing.T, w *worker, status string, maxOps int, stop *atomic.Bool) error {
	for range maxOps {
		as, method, path, body := h.next(w, status)
		h.inflight.Add(1)
		r, err := as.Try(t, method, path, body)
		h.inflight.Add(-1)
		if err != nil || r.Status/100 != 2 {
			if stop.Load() {
				return nil // the kill cut it off; the outcome is unknown
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%s", r)
		}
		var o wire.Order
		if err := json.Unmarshal(r.Body, &o); err != nil {
			return fmt.Errorf("%s: %w", r, err)
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
	r := h.api.Admin.Get(t, "/v1/orders/"+w.current)
	if r.Status == http.StatusNotFound {
		w.current = ""
		return ""
	}
	var o wire.Order
	r.Decode(t, http.StatusOK, &o)
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
		wg.Go(func() { errs[i] = h.drive(t, w, statuses[i], maxOps, &stop) })
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
	admin := h.api.Admin
	current := map[string]wire.Order{}
	for id, as := range byOrder {
		o := admin.Order(t, id)
		current[id] = o
		tl := admin.Timeline(t, id)
		require.Len(t, tl, int(o.Version), "order %s: timeline is not 1..version", id)
		for i, it := range tl {
			require.Equal(t, int64(i+1), it.Seq, "order %s timeline", id)
		}
		var last ack
		for _, a := range as {
			require.GreaterOrEqual(t, o.Version, a.version, "order %s lost acknowledged version %d", id, a.version)
			require.Equal(t, a.status, tl[a.version-1].Status, "order %s seq %d", id, a.version)
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
				o = admin.Order(t, id)
			}
			switch o.Status {
			case "assigned", "accepted", "picked_up", "in_transit":
				holding++
			}
		}
		require.Equal(t, holding, admin.Driver(t, w.driver.ID()).ActiveOrders, "driver %s", w.driver.ID())
	}
}

// signIn makes the customer and one available driver per worker.
func (h *harness) signIn(t *testing.T) {
	t.Helper()
	h.customer = h.api.Signup(t)
	for range workers {
		h.workers = append(h.workers, &worker{driver: h.api.CreateDriver(t, 0, true)})
	}
}

func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	// One member of the nats membership (serve's default): every restart
	// joins afresh while the killed run's record is still in the directory.
	f := newFleet(t, "kill", "", nil)
	srv := fleettest.Start(t, f, "node", nil)
	h := &harness{api: e2e.ConnectNode(t, f, srv)}
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
		h.api.HTTP.CloseIdleConnections()
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

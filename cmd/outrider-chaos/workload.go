package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider/outrider/cmd/outrider-chaos/oracle"
)

// actors are the users the workload acts as.
type actors struct {
	admin     user
	customers []user
	drivers   []user
}

// setup creates the customers and the available drivers, through every
// routable node.
func setup(ctx context.Context, c *client, admin user, customers, drivers int) (*actors, error) {
	a := &actors{admin: admin}
	type session struct {
		AccessToken string `json:"access_token"`
		User        struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	for i := range customers {
		var s session
		err := c.plain(ctx, http.MethodPost, "/v1/auth/signup", "", map[string]string{
			"name": "Chaos Customer", "email": fmt.Sprintf("customer%d-%s@chaos.test", i, c.run), "password": "chaos-password",
		}, &s, http.StatusCreated)
		if err != nil {
			return nil, fmt.Errorf("customer %d: %w", i, err)
		}
		a.customers = append(a.customers, user{id: s.User.ID, role: "customer", token: s.AccessToken})
	}
	for i := range drivers {
		email := fmt.Sprintf("driver%d-%s@chaos.test", i, c.run)
		err := c.plain(ctx, http.MethodPost, "/v1/users", admin.token, map[string]string{
			"name": "Chaos Driver", "email": email, "password": "chaos-password", "role": "driver",
		}, nil, http.StatusCreated)
		if err != nil {
			return nil, fmt.Errorf("driver %d: %w", i, err)
		}
		var s session
		err = c.plain(ctx, http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": "chaos-password"}, &s, http.StatusOK)
		if err != nil {
			return nil, fmt.Errorf("driver %d: %w", i, err)
		}
		d := user{id: s.User.ID, role: "driver", token: s.AccessToken}
		if err := c.plain(ctx, http.MethodPut, "/v1/drivers/me/availability", d.token, map[string]bool{"available": true}, nil, http.StatusOK); err != nil {
			return nil, fmt.Errorf("driver %d availability: %w", i, err)
		}
		a.drivers = append(a.drivers, d)
	}
	return a, nil
}

// workload drives order lifecycles from concurrent workers until stop is
// closed: create, racing assigns from several admins through different
// nodes, accept (or decline), the status changes to delivered (or a
// cancel), with deliberate invalid commands and reads sprinkled in.
type workload struct {
	c       *client
	a       *actors
	racers  int // concurrent assigns per round
	watch   func(order string)
	done    func(order string, version int64)
	stopped atomic.Bool

	mu       sync.Mutex
	finished int // orders driven to a terminal status
	stuck    int // orders given up on
}

// maxSteps bounds the operations the workload spends on one order.
const maxSteps = 60

func (w *workload) run(ctx context.Context, worker int) {
	for !w.stopped.Load() && ctx.Err() == nil {
		w.order(ctx, worker)
	}
}

// order drives one order from creation to a terminal status, deciding each
// step from the order's state as last answered (or read, after an answer
// that leaves it unknown).
func (w *workload) order(ctx context.Context, worker int) {
	cust := w.a.customers[rand.IntN(len(w.a.customers))]
	op := &oracle.Op{Kind: oracle.Create, Customer: cust.id}
	body := map[string]any{
		"pickup":  map[string]any{"address": "1 Chaos Depot"},
		"dropoff": map[string]any{"address": "2 Chaos Lane"}, "delivery_option": "standard",
	}
	by := cust
	if rand.IntN(4) == 0 {
		by, body["customer_id"] = w.a.admin, cust.id
	}
	op = w.c.do(ctx, worker, by, op, http.MethodPost, "/v1/orders", body)
	id := op.Order
	if op.Acked() {
		w.watch(id) // an unanswered create may never have committed
	}
	st, known := w.learn(ctx, worker, op)
	for steps := 0; steps < maxSteps && ctx.Err() == nil; steps++ {
		if !known {
			st, known = w.read(ctx, worker, id)
			if !known {
				continue
			}
		}
		if !st.exists {
			break // the create never committed
		}
		if terminal(st.status) {
			w.mu.Lock()
			w.finished++
			w.mu.Unlock()
			w.done(id, st.version)
			return
		}
		if w.stopped.Load() && rand.IntN(3) == 0 {
			break // leave some orders mid-way at the end
		}
		st, known = w.step(ctx, worker, id, cust, st)
	}
	w.mu.Lock()
	w.stuck++
	w.mu.Unlock()
}

// orderState is what the workload knows of an order.
type orderState struct {
	exists  bool
	status  string
	driver  string
	version int64
}

func terminal(s string) bool {
	return s == oracle.Delivered || s == oracle.Cancelled || s == oracle.Failed
}

// learn turns an answer into the order's state; known is false when only a
// read can tell (no definite answer, or a refusal).
func (w *workload) learn(ctx context.Context, worker int, op *oracle.Op) (orderState, bool) {
	if op.Acked() && op.Result != nil {
		return orderState{exists: true, status: op.Result.Status, driver: op.Result.Driver, version: op.Result.Version}, true
	}
	return orderState{}, false
}

// read asks for the order as the admin.
func (w *workload) read(ctx context.Context, worker int, id string) (orderState, bool) {
	op := w.c.do(ctx, worker, w.a.admin, &oracle.Op{Kind: oracle.Read, Order: id}, http.MethodGet, "/v1/orders/"+id, nil)
	switch {
	case op.Acked() && op.Result != nil:
		return orderState{exists: true, status: op.Result.Status, driver: op.Result.Driver, version: op.Result.Version}, true
	case op.HTTP == http.StatusNotFound:
		return orderState{}, true
	}
	return orderState{}, false
}

func (w *workload) driver(id string) user {
	for _, d := range w.a.drivers {
		if d.id == id {
			return d
		}
	}
	return user{id: id, role: "driver"}
}

func (w *workload) otherDriver(id string) user {
	for {
		d := w.a.drivers[rand.IntN(len(w.a.drivers))]
		if d.id != id || len(w.a.drivers) == 1 {
			return d
		}
	}
}

// step takes the order one step on from st.
func (w *workload) step(ctx context.Context, worker int, id string, cust user, st orderState) (orderState, bool) {
	base := "/v1/orders/" + id
	// Now and then a command that is not valid now: a driver who is not the
	// order's, or the order's own driver repeating a step already done. The
	// oracle checks these refusals are right, as it checks every other.
	if rand.IntN(8) == 0 {
		switch st.status {
		case oracle.Assigned, oracle.Accepted:
			d := w.otherDriver(st.driver)
			w.c.do(ctx, worker, d, &oracle.Op{Kind: oracle.Accept, Order: id}, http.MethodPost, base+"/accept", nil)
		case oracle.PickedUp, oracle.InTransit:
			d := w.driver(st.driver)
			w.c.do(ctx, worker, d, &oracle.Op{Kind: oracle.Accept, Order: id}, http.MethodPost, base+"/accept", nil)
		}
	}
	if rand.IntN(10) == 0 {
		w.read(ctx, worker, id)
	}
	switch st.status {
	case oracle.Pending:
		if rand.IntN(30) == 0 {
			return w.status(ctx, worker, w.a.admin, id, oracle.Cancelled)
		}
		return w.race(ctx, worker, id)
	case oracle.Assigned:
		d := w.driver(st.driver)
		if rand.IntN(7) == 0 {
			op := w.c.do(ctx, worker, d, &oracle.Op{Kind: oracle.Decline, Order: id}, http.MethodPost, base+"/decline", map[string]string{"reason": "chaos"})
			return w.learn(ctx, worker, op)
		}
		op := w.c.do(ctx, worker, d, &oracle.Op{Kind: oracle.Accept, Order: id}, http.MethodPost, base+"/accept", nil)
		return w.learn(ctx, worker, op)
	case oracle.Accepted:
		if rand.IntN(25) == 0 {
			return w.status(ctx, worker, cust, id, oracle.Cancelled)
		}
		return w.status(ctx, worker, w.mover(st.driver), id, oracle.PickedUp)
	case oracle.PickedUp:
		return w.status(ctx, worker, w.mover(st.driver), id, oracle.InTransit)
	case oracle.InTransit:
		return w.status(ctx, worker, w.mover(st.driver), id, oracle.Delivered)
	}
	return st, false
}

// mover is who moves an order forward: its driver, sometimes an admin.
func (w *workload) mover(driver string) user {
	if rand.IntN(10) == 0 {
		return w.a.admin
	}
	return w.driver(driver)
}

func (w *workload) status(ctx context.Context, worker int, u user, id, to string) (orderState, bool) {
	op := w.c.do(ctx, worker, u, &oracle.Op{Kind: oracle.Status, Order: id, To: to}, http.MethodPut,
		"/v1/orders/"+id+"/status", map[string]string{"status": to})
	return w.learn(ctx, worker, op)
}

// race sends w.racers assigns of the order at once, each for another
// driver and through another node: at most one may win (I1).
func (w *workload) race(ctx context.Context, worker int, id string) (orderState, bool) {
	n := max(w.racers, 1)
	perm := rand.Perm(len(w.a.drivers))
	ops := make([]*oracle.Op, n)
	var wg sync.WaitGroup
	for k := range n {
		drv := w.a.drivers[perm[k%len(perm)]]
		wg.Go(func() {
			ops[k] = w.c.do(ctx, worker, w.a.admin, &oracle.Op{Kind: oracle.Assign, Order: id, Driver: drv.id},
				http.MethodPost, "/v1/orders/"+id+"/assign", map[string]string{"driver_id": drv.id})
		})
	}
	wg.Wait()
	var best *oracle.Op
	for _, op := range ops {
		if op.Acked() && op.Result != nil && (best == nil || op.Result.Version > best.Result.Version) {
			best = op
		}
	}
	if best != nil {
		// Another racer's later command may have moved it on already; the
		// next step's answer (or a read) tells.
		return w.learn(ctx, worker, best)
	}
	busy := true
	for _, op := range ops {
		busy = busy && op.Code == "driver_unavailable"
	}
	if busy { // every driver asked is busy: give them a moment
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(20+rand.IntN(80)) * time.Millisecond):
		}
	}
	return orderState{}, false
}

package process_test

// Realtime across two nodes (issue 3, DESIGN.md §4–§6). The test builds the
// real binary and runs two `outrider serve` processes on 127.0.0.1 — one
// cluster, one Postgres schema, one NATS namespace and stream —
// and checks that:
//
//   - a customer watching an order on node 1 sees every event of a
//     lifecycle driven through node 2's HTTP API, in order and gap-free,
//     while a second watcher on node 2 that subscribed with since=0 gets the
//     whole history, 1..6, with no seam between replay and live events;
//   - the same holds the other way round (watch on node 2, drive on node 1);
//   - SIGTERM on node 2 closes its sockets with 1001 (CloseGoingAway); a
//     client that was watching there reconnects to node 1 with `since` = the
//     last seq it saw and gets exactly the event committed while it was away,
//     then the later ones live, each once.
//
// The nodes are child processes, run by internal/fleet, not two in-process
// app.Nodes: Proto.Actor keeps process-global state (gRPC's logger), so two
// cluster members should not share a process. The children are built with
// -race, and any race report fails the test (fleettest). Every helper here
// is prefixed twoNode so it cannot clash with the other tests of this
// package.

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/internal/fleet/fleettest"
	"github.com/outrider/outrider/wire"
)

const (
	twoNodeJWTSecret     = "two-node-test-secret-0123456789abcdefgh"
	twoNodeAdminEmail    = "admin@twonode.test"
	twoNodeAdminPassword = "admin-password"
	// twoNodeEventWait bounds the wait for the close of a connection.
	twoNodeEventWait = 10 * time.Second
)

// twoNodeDo sends one request as u and requires the status want. Writes
// carry an Idempotency-Key; a 503 (the documented retryable answer, e.g.
// while the cluster topology changes) is repeated with the same key, a
// bounded number of times, and logged.
func twoNodeDo(t *testing.T, u *e2e.Caller, method, path string, body any, want int) *e2e.Response {
	t.Helper()
	var opts []e2e.Opt
	if method == http.MethodPost || method == http.MethodPut {
		opts = append(opts, e2e.IdempotencyKey(e2e.Unique("twonode")))
	}
	for attempt := 1; ; attempt++ {
		r := u.Do(t, method, path, body, opts...)
		if r.Status == http.StatusServiceUnavailable && want != http.StatusServiceUnavailable && attempt < 5 {
			// Back off as a client would (Retry-After is 1 s; 200 ms is
			// enough for a topology change) before repeating the same key.
			t.Logf("%s at %s (attempt %d), retrying", r, u.Client.Base, attempt)
			<-time.After(200 * time.Millisecond)
			continue
		}
		r.RequireStatus(t, want)
		return r
	}
}

// twoNodeLogin signs a user in through c.
func twoNodeLogin(t *testing.T, c *e2e.Client, email, password string) *e2e.Caller {
	t.Helper()
	var tok wire.Tokens
	twoNodeDo(t, c.Anon(), http.MethodPost, "/v1/auth/login", map[string]string{"email": email, "password": password}, http.StatusOK).
		Decode(t, http.StatusOK, &tok)
	return c.FromTokens(tok, password)
}

// twoNodeSignup signs a customer up through c.
func twoNodeSignup(t *testing.T, c *e2e.Client) *e2e.Caller {
	t.Helper()
	var tok wire.Tokens
	twoNodeDo(t, c.Anon(), http.MethodPost, "/v1/auth/signup",
		map[string]string{"name": "Cora Customer", "email": e2e.UniqueEmail("customer"), "password": "grape-lantern-42"}, http.StatusCreated).
		Decode(t, http.StatusCreated, &tok)
	return c.FromTokens(tok, "grape-lantern-42")
}

// twoNodeDriver has admin create an available driver (on admin's node)
// and signs it in there.
func twoNodeDriver(t *testing.T, admin *e2e.Caller) *e2e.Caller {
	t.Helper()
	email := e2e.UniqueEmail("driver")
	twoNodeDo(t, admin, http.MethodPost, "/v1/users",
		map[string]any{"name": "Dee Driver", "email": email, "password": "orchid-tundra-1906", "role": "driver"}, http.StatusCreated)
	d := twoNodeLogin(t, admin.Client, email, "orchid-tundra-1906")
	twoNodeDo(t, d, http.MethodPut, "/v1/drivers/me/availability", map[string]any{"available": true}, http.StatusOK)
	return d
}

// twoNodeOrder places an order as customer and returns its id.
func twoNodeOrder(t *testing.T, customer *e2e.Caller) string {
	t.Helper()
	var o wire.Order
	twoNodeDo(t, customer, http.MethodPost, "/v1/orders", map[string]any{
		"pickup": map[string]any{"address": "1 Depot Rd"}, "dropoff": map[string]any{"address": "9 Home St"},
		"delivery_option": "standard"}, http.StatusCreated).Decode(t, http.StatusCreated, &o)
	return o.ID
}

// twoNodeStep moves an order to its next seq through node c: seq 2 is the
// admin's assign, 3 the driver's accept, 4..6 the driver's status changes.
// It checks the order's version afterwards.
func twoNodeStep(t *testing.T, c *e2e.Client, orderID string, seq int64, admin, driver *e2e.Caller) {
	t.Helper()
	var r *e2e.Response
	switch seq {
	case 2:
		r = twoNodeDo(t, admin.On(c), http.MethodPost, "/v1/orders/"+orderID+"/assign", map[string]any{"driver_id": driver.ID()}, http.StatusOK)
	case 3:
		r = twoNodeDo(t, driver.On(c), http.MethodPost, "/v1/orders/"+orderID+"/accept", nil, http.StatusOK)
	default:
		r = twoNodeDo(t, driver.On(c), http.MethodPut, "/v1/orders/"+orderID+"/status", map[string]any{"status": twoNodeLifecycle[seq-1].status}, http.StatusOK)
	}
	var o wire.Order
	r.Decode(t, http.StatusOK, &o)
	require.EqualValues(t, seq, o.Version, "order %s after step %d: %s", orderID, seq, r)
	require.Equal(t, twoNodeLifecycle[seq-1].status, o.Status)
}

// twoNodeLifecycle is what a watcher sees for seq 1..6 of an order.
var twoNodeLifecycle = []struct{ event, status string }{
	{"order.created", "pending"},
	{"order.assigned", "assigned"},
	{"order.accepted", "accepted"},
	{"order.status_changed", "picked_up"},
	{"order.status_changed", "in_transit"},
	{"order.status_changed", "delivered"},
}

// twoNodeExpect reads the event frames of channel for seqs from..to (each
// one's seq, event name, order and version checked by WS.Expect) and
// checks each order's status. It returns the last seq received.
func twoNodeExpect(t *testing.T, c *e2e.WS, channel string, from, to int64) (last int64) {
	t.Helper()
	var events []string
	for seq := from; seq <= to; seq++ {
		events = append(events, twoNodeLifecycle[seq-1].event)
	}
	for i, o := range c.Expect(channel, from, events...) {
		seq := from + int64(i)
		require.Equal(t, twoNodeLifecycle[seq-1].status, o.Status, "%s: %s seq %d", c.Name, channel, seq)
	}
	return to
}

// twoNodeMetrics returns the /metrics samples of a node whose names start
// with one of prefixes, for the log.
func twoNodeMetrics(t *testing.T, c *e2e.Client, prefixes ...string) string {
	t.Helper()
	r := c.Anon().Get(t, "/metrics").RequireStatus(t, http.StatusOK)
	var out []string
	for _, line := range strings.Split(string(r.Body), "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "; ")
}

func TestTwoNodeRealtime(t *testing.T) {
	// The nats membership (serve's default): the nodes find each other
	// through the shared NATS namespace.
	f := fleettest.New(t, fleettest.Options{Options: fleet.Options{
		Name:      "twonode",
		JWTSecret: twoNodeJWTSecret, AdminEmail: twoNodeAdminEmail, AdminPassword: twoNodeAdminPassword,
	}})
	started := time.Now()
	n1, err := f.Start("node1", nil)
	require.NoError(t, err)
	n2, err := f.Start("node2", nil)
	require.NoError(t, err)
	fleettest.WaitReady(t, n1, n2)
	t.Logf("both nodes ready %s after their start", time.Since(started).Round(time.Millisecond))

	c1, c2 := e2e.NewClient(t, n1.URL()), e2e.NewClient(t, n2.URL())

	customer := twoNodeSignup(t, c1)
	admin := twoNodeLogin(t, c2, twoNodeAdminEmail, twoNodeAdminPassword)
	require.Equal(t, "admin", admin.User.Role)
	// One driver per order: a driver holds one active order at a time.
	drvA, drvB, drvC := twoNodeDriver(t, admin), twoNodeDriver(t, admin), twoNodeDriver(t, admin.On(c1))

	// 1. Watch on node 1, drive through node 2. A second watcher, on node 2,
	// subscribes with since=0: seq 1 from the journal, then 2..6 live.
	orderA := twoNodeOrder(t, customer)
	chA := "order:" + orderA
	w1 := e2e.Dial(t, "watcher A@node1", n1.Addr(), customer.Token, nil)
	w1.Subscribe(chA, nil)
	w0 := e2e.Dial(t, "watcher A since=0@node2", n2.Addr(), customer.Token, nil)
	zero := int64(0)
	w0.Subscribe(chA, &zero)
	twoNodeExpect(t, w0, chA, 1, 1)
	for seq := int64(2); seq <= 6; seq++ {
		twoNodeStep(t, c2, orderA, seq, admin, drvA)
	}
	twoNodeExpect(t, w1, chA, 2, 6)
	twoNodeExpect(t, w0, chA, 2, 6)
	w1.Quiet(chA)
	w0.Quiet(chA)
	t.Logf("order A: node 1 watcher got seq 2..6 driven via node 2; node 2 watcher (since=0) got 1..6")

	// 2. The other way round: watch on node 2, drive through node 1.
	orderB := twoNodeOrder(t, customer.On(c2))
	chB := "order:" + orderB
	w2 := e2e.Dial(t, "watcher B@node2", n2.Addr(), customer.Token, nil)
	w2.Subscribe(chB, nil)
	for seq := int64(2); seq <= 6; seq++ {
		twoNodeStep(t, c1, orderB, seq, admin, drvB)
	}
	twoNodeExpect(t, w2, chB, 2, 6)
	w2.Quiet(chB)
	t.Logf("order B: node 2 watcher got seq 2..6 driven via node 1")

	// 3. A watcher on node 2 follows order C to accepted (seq 3); node 2
	// gets SIGTERM and must close it with 1001. While it is away, node 1
	// commits picked_up (seq 4); reconnected to node 1 with since=3 it
	// gets exactly seq 4, then 5 and 6 live.
	orderC := twoNodeOrder(t, customer)
	chC := "order:" + orderC
	w3 := e2e.Dial(t, "watcher C@node2", n2.Addr(), customer.Token, nil)
	w3.Subscribe(chC, nil)
	twoNodeStep(t, c1, orderC, 2, admin, drvC)
	twoNodeStep(t, c1, orderC, 3, admin, drvC)
	last := twoNodeExpect(t, w3, chC, 2, 3) // the seq the client resumes from

	for _, n := range []struct {
		*fleet.Node
		c *e2e.Client
	}{{n1, c1}, {n2, c2}} {
		t.Logf("%s before SIGTERM: %s", n.Name(), twoNodeMetrics(t, n.c,
			"outrider_actor_activations_total", "outrider_outbox_leader", "outrider_outbox_published_total", "outrider_ws_sessions"))
	}

	stopAt := time.Now()
	require.NoError(t, n2.Signal(syscall.SIGTERM))
	for _, c := range []*e2e.WS{w3, w0, w2} {
		code := c.CloseCode(twoNodeEventWait)
		require.Equal(t, websocket.CloseGoingAway, code, "%s: close code on SIGTERM", c.Name)
	}
	t.Logf("SIGTERM on node 2: its 3 clients got close 1001 within %s", time.Since(stopAt).Round(time.Millisecond))
	select {
	case <-n2.Exited():
	case <-time.After(15 * time.Second):
		require.FailNow(t, "node 2 did not exit within 15s of SIGTERM")
	}
	require.True(t, n2.ExitState().Success(), "node 2 exit after SIGTERM: %v", n2.ExitState())
	t.Logf("node 2 exited cleanly %s after SIGTERM", time.Since(stopAt).Round(time.Millisecond))

	twoNodeStep(t, c1, orderC, 4, admin, drvC) // missed by the watcher
	w4 := e2e.Dial(t, "watcher C resumed@node1", n1.Addr(), customer.Token, nil)
	w4.Subscribe(chC, &last)
	twoNodeExpect(t, w4, chC, 4, 4)
	w4.Quiet(chC)
	twoNodeStep(t, c1, orderC, 5, admin, drvC)
	twoNodeExpect(t, w4, chC, 5, 5)
	twoNodeStep(t, c1, orderC, 6, admin, drvC)
	twoNodeExpect(t, w4, chC, 6, 6)
	w4.Quiet(chC)
	// The node 1 watcher of order A is still live and saw nothing new.
	w1.Quiet(chA)
	t.Logf("order C: resumed on node 1 with since=%d, got 4 (missed), then 5 and 6 live, once each; %s since the nodes started",
		last, time.Since(started).Round(time.Millisecond))
}

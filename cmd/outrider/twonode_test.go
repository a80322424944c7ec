package main_test

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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/internal/fleet/fleettest"
)

const (
	twoNodeJWTSecret     = "two-node-test-secret-0123456789abcdefgh"
	twoNodeAdminEmail    = "admin@twonode.test"
	twoNodeAdminPassword = "admin-password"
	// twoNodeEventWait bounds the wait for one expected frame.
	twoNodeEventWait = 10 * time.Second
)

// twoNodeAPI is a JSON client of one node's HTTP API.
type twoNodeAPI struct {
	t *testing.T
	c *fleet.Client
}

type twoNodeUser struct{ token, id string }

var twoNodeSeq atomic.Int64

// do sends one request and requires the status want. Writes carry an
// Idempotency-Key; a 503 (the documented retryable answer, e.g. while the
// cluster topology changes) is repeated with the same key, a bounded
// number of times, and logged.
func (a *twoNodeAPI) do(method, path, token string, body any, want int) map[string]any {
	a.t.Helper()
	key := fmt.Sprintf("twonode-%d-%d", time.Now().UnixNano(), twoNodeSeq.Add(1))
	idem := ""
	if method == http.MethodPost || method == http.MethodPut {
		idem = key
	}
	for attempt := 1; ; attempt++ {
		resp, err := a.c.DoKey(context.Background(), method, path, token, idem, body)
		require.NoError(a.t, err)
		b := resp.Body
		if resp.Status == http.StatusServiceUnavailable && want != http.StatusServiceUnavailable && attempt < 5 {
			// Back off as a client would (Retry-After is 1 s; 200 ms is
			// enough for a topology change) before repeating the same key.
			a.t.Logf("%s %s%s: 503 (attempt %d), retrying: %s", method, a.c.Base, path, attempt, b)
			<-time.After(200 * time.Millisecond)
			continue
		}
		require.Equal(a.t, want, resp.Status, "%s %s%s: %s", method, a.c.Base, path, b)
		out := map[string]any{}
		if len(b) > 0 {
			require.NoError(a.t, json.Unmarshal(b, &out), "%s %s: %s", method, path, b)
		}
		return out
	}
}

func (a *twoNodeAPI) login(email, password string) twoNodeUser {
	a.t.Helper()
	out := a.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}, 200)
	return twoNodeUser{out["access_token"].(string), out["user"].(map[string]any)["id"].(string)}
}

func (a *twoNodeAPI) signup() twoNodeUser {
	a.t.Helper()
	email := fmt.Sprintf("customer-%d@twonode.test", twoNodeSeq.Add(1))
	out := a.do("POST", "/v1/auth/signup", "", map[string]string{"name": "Cora Customer", "email": email, "password": "customer-pass"}, 201)
	return twoNodeUser{out["access_token"].(string), out["user"].(map[string]any)["id"].(string)}
}

// driver creates an available driver (as admin) and signs it in.
func (a *twoNodeAPI) driver(admin twoNodeUser) twoNodeUser {
	a.t.Helper()
	email := fmt.Sprintf("driver-%d@twonode.test", twoNodeSeq.Add(1))
	a.do("POST", "/v1/users", admin.token, map[string]any{"name": "Dee Driver", "email": email, "password": "driver-pass", "role": "driver"}, 201)
	d := a.login(email, "driver-pass")
	a.do("PUT", "/v1/drivers/me/availability", d.token, map[string]any{"available": true}, 200)
	return d
}

func (a *twoNodeAPI) order(customer twoNodeUser) string {
	a.t.Helper()
	out := a.do("POST", "/v1/orders", customer.token, map[string]any{
		"pickup": map[string]any{"address": "1 Depot Rd"}, "dropoff": map[string]any{"address": "9 Home St"},
		"delivery_option": "standard"}, 201)
	return out["id"].(string)
}

// step moves an order to its next seq: seq 2 is the admin's assign, 3 the
// driver's accept, 4..6 the driver's status changes. It checks the
// order's version afterwards.
func (a *twoNodeAPI) step(orderID string, seq int64, admin, driver twoNodeUser) {
	a.t.Helper()
	var out map[string]any
	switch seq {
	case 2:
		out = a.do("POST", "/v1/orders/"+orderID+"/assign", admin.token, map[string]any{"driver_id": driver.id}, 200)
	case 3:
		out = a.do("POST", "/v1/orders/"+orderID+"/accept", driver.token, nil, 200)
	default:
		out = a.do("PUT", "/v1/orders/"+orderID+"/status", driver.token, map[string]any{"status": twoNodeLifecycle[seq-1].status}, 200)
	}
	require.EqualValues(a.t, seq, out["version"], "order %s after step %d: %v", orderID, seq, out)
	require.Equal(a.t, twoNodeLifecycle[seq-1].status, out["status"])
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

// twoNodeFrame is any server frame.
type twoNodeFrame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Channel string          `json:"channel"`
	Seq     int64           `json:"seq"`
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data"`
	At      string          `json:"at"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

// twoNodeWS is a WebSocket client whose frames a goroutine reads into a
// channel, so several clients can be waited on with deadlines and the
// close frame's code observed.
type twoNodeWS struct {
	t       *testing.T
	name    string
	conn    *websocket.Conn
	frames  chan twoNodeFrame
	err     error          // why reading stopped; set before frames is closed
	pending []twoNodeFrame // frames read ahead by subscribe
	other   int            // event frames of other channels (user:…), ignored
}

func twoNodeDial(t *testing.T, name, addr, token string) *twoNodeWS {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial("ws://"+addr+"/v1/ws", h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	require.NoError(t, err, "%s: dial %s", name, addr)
	c := &twoNodeWS{t: t, name: name, conn: conn, frames: make(chan twoNodeFrame, 256)}
	go func() {
		defer close(c.frames)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			var f twoNodeFrame
			if err := json.Unmarshal(data, &f); err != nil {
				c.err = fmt.Errorf("frame %q: %w", data, err)
				return
			}
			if strings.HasPrefix(f.Channel, "user:") {
				continue // the worker's notifications; this test watches orders
			}
			c.frames <- f
		}
	}()
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

// next returns the next frame; ok is false once the connection is closed
// (c.err says why). It fails the test after timeout.
func (c *twoNodeWS) next(timeout time.Duration) (f twoNodeFrame, ok bool) {
	c.t.Helper()
	if len(c.pending) > 0 {
		f, c.pending = c.pending[0], c.pending[1:]
		return f, true
	}
	select { // what is already there first: a select with two ready cases picks at random
	case f, ok = <-c.frames:
		return f, ok
	default:
	}
	select {
	case f, ok = <-c.frames:
		return f, ok
	case <-time.After(max(timeout, 0)):
		require.FailNow(c.t, c.name+": no frame in time", "waited %s", timeout)
		return f, false
	}
}

func (c *twoNodeWS) send(v any) {
	c.t.Helper()
	require.NoError(c.t, c.conn.WriteJSON(v), c.name)
}

// subscribe subscribes to channel (from since, if not nil) and waits for
// the ack; events arriving before it are kept for events.
func (c *twoNodeWS) subscribe(channel string, since *int64) {
	c.t.Helper()
	id := "sub-" + strconv.FormatInt(twoNodeSeq.Add(1), 10)
	m := map[string]any{"type": "subscribe", "channel": channel, "id": id}
	if since != nil {
		m["since"] = *since
	}
	c.send(m)
	var early []twoNodeFrame
	deadline := time.Now().Add(twoNodeEventWait)
	for {
		f, ok := c.next(time.Until(deadline))
		if !ok { // c.err is only safe to read once frames is closed
			require.FailNow(c.t, fmt.Sprintf("%s: closed while subscribing to %s: %v", c.name, channel, c.err))
		}
		switch {
		case f.Type == "ack" && f.ID == id:
			c.pending = append(early, c.pending...)
			return
		case f.Type == "event" || f.Type == "ack" || f.Type == "pong":
			early = append(early, f)
		default:
			require.FailNow(c.t, c.name+": subscribe "+channel+" refused", "%+v", f)
		}
	}
}

// expect reads the event frames of channel for seqs from..to and checks
// each one's seq, event name, status and order. Frames of other channels,
// acks and pongs are skipped; anything else fails. It returns the last
// seq received.
func (c *twoNodeWS) expect(channel string, from, to int64) (last int64) {
	c.t.Helper()
	orderID := strings.TrimPrefix(channel, "order:")
	deadline := time.Now().Add(twoNodeEventWait)
	for want := from; want <= to; {
		f, ok := c.next(time.Until(deadline))
		if !ok { // c.err is only safe to read once frames is closed
			require.FailNow(c.t, fmt.Sprintf("%s: closed while waiting for %s seq %d: %v", c.name, channel, want, c.err))
		}
		switch {
		case f.Type == "ack" || f.Type == "pong":
			continue
		case f.Type == "event" && f.Channel != channel:
			c.other++
			continue
		case f.Type != "event":
			require.FailNow(c.t, c.name+": unexpected frame", "waiting for %s seq %d: %+v", channel, want, f)
		}
		require.Equal(c.t, want, f.Seq, "%s: %s out of order or with a gap or duplicate (%s)", c.name, channel, f.Event)
		lc := twoNodeLifecycle[want-1]
		require.Equal(c.t, lc.event, f.Event, "%s: %s seq %d", c.name, channel, want)
		// The order in the event is a Go struct without JSON tags (keys
		// like "Status"); encoding/json matches them case-insensitively.
		var data struct {
			Order struct {
				ID      string `json:"id"`
				Status  string `json:"status"`
				Version int64  `json:"version"`
			} `json:"order"`
		}
		require.NoError(c.t, json.Unmarshal(f.Data, &data), "%s: data of %s seq %d: %s", c.name, channel, want, f.Data)
		require.Equal(c.t, orderID, data.Order.ID, "%s: seq %d data: %s", c.name, want, f.Data)
		require.Equal(c.t, lc.status, data.Order.Status, "%s: seq %d data: %s", c.name, want, f.Data)
		require.Equal(c.t, want, data.Order.Version, "%s: seq %d data: %s", c.name, want, f.Data)
		_, err := time.Parse(time.RFC3339, f.At)
		require.NoError(c.t, err, "%s: seq %d at", c.name, want)
		last = f.Seq
		want++
	}
	return last
}

// quiet sends a ping and requires the pong with no event of channel
// before it: nothing (e.g. a duplicate) is queued behind what was seen.
func (c *twoNodeWS) quiet(channel string) {
	c.t.Helper()
	c.send(map[string]any{"type": "ping"})
	deadline := time.Now().Add(twoNodeEventWait)
	for {
		f, ok := c.next(time.Until(deadline))
		if !ok { // c.err is only safe to read once frames is closed
			require.FailNow(c.t, fmt.Sprintf("%s: closed while waiting for pong: %v", c.name, c.err))
		}
		switch {
		case f.Type == "pong":
			return
		case f.Type == "event" && f.Channel == channel:
			require.FailNow(c.t, c.name+": unexpected event", "%s seq %d %s", channel, f.Seq, f.Event)
		case f.Type == "event":
			c.other++
		case f.Type == "ack":
		default:
			require.FailNow(c.t, c.name+": unexpected frame", "%+v", f)
		}
	}
}

// closeCode waits for the server to close the connection and returns the
// close code. No order event may arrive first.
func (c *twoNodeWS) closeCode(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, ok := c.next(time.Until(deadline))
		if !ok {
			var ce *websocket.CloseError
			require.True(c.t, errors.As(c.err, &ce), "%s: connection ended without a close frame: %v", c.name, c.err)
			return ce.Code
		}
		if f.Type == "event" && strings.HasPrefix(f.Channel, "order:") {
			require.FailNow(c.t, c.name+": unexpected event before the close", "%s seq %d %s", f.Channel, f.Seq, f.Event)
		}
	}
}

// twoNodeMetrics returns the /metrics samples of a node whose names start
// with one of prefixes, for the log.
func twoNodeMetrics(t *testing.T, addr string, prefixes ...string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
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

	api1 := &twoNodeAPI{t: t, c: n1.Client()}
	api2 := &twoNodeAPI{t: t, c: n2.Client()}

	customer := api1.signup()
	admin := api2.login(twoNodeAdminEmail, twoNodeAdminPassword)
	// One driver per order: a driver holds one active order at a time.
	drvA, drvB, drvC := api2.driver(admin), api2.driver(admin), api1.driver(admin)

	// 1. Watch on node 1, drive through node 2. A second watcher, on node 2,
	// subscribes with since=0: seq 1 from the journal, then 2..6 live.
	orderA := api1.order(customer)
	chA := "order:" + orderA
	w1 := twoNodeDial(t, "watcher A@node1", n1.Addr(), customer.token)
	w1.subscribe(chA, nil)
	w0 := twoNodeDial(t, "watcher A since=0@node2", n2.Addr(), customer.token)
	zero := int64(0)
	w0.subscribe(chA, &zero)
	w0.expect(chA, 1, 1)
	for seq := int64(2); seq <= 6; seq++ {
		api2.step(orderA, seq, admin, drvA)
	}
	w1.expect(chA, 2, 6)
	w0.expect(chA, 2, 6)
	w1.quiet(chA)
	w0.quiet(chA)
	t.Logf("order A: node 1 watcher got seq 2..6 driven via node 2; node 2 watcher (since=0) got 1..6")

	// 2. The other way round: watch on node 2, drive through node 1.
	orderB := api2.order(customer)
	chB := "order:" + orderB
	w2 := twoNodeDial(t, "watcher B@node2", n2.Addr(), customer.token)
	w2.subscribe(chB, nil)
	for seq := int64(2); seq <= 6; seq++ {
		api1.step(orderB, seq, admin, drvB)
	}
	w2.expect(chB, 2, 6)
	w2.quiet(chB)
	t.Logf("order B: node 2 watcher got seq 2..6 driven via node 1")

	// 3. A watcher on node 2 follows order C to accepted (seq 3); node 2
	// gets SIGTERM and must close it with 1001. While it is away, node 1
	// commits picked_up (seq 4); reconnected to node 1 with since=3 it
	// gets exactly seq 4, then 5 and 6 live.
	orderC := api1.order(customer)
	chC := "order:" + orderC
	w3 := twoNodeDial(t, "watcher C@node2", n2.Addr(), customer.token)
	w3.subscribe(chC, nil)
	api1.step(orderC, 2, admin, drvC)
	api1.step(orderC, 3, admin, drvC)
	last := w3.expect(chC, 2, 3) // the seq the client resumes from

	for _, n := range []*fleet.Node{n1, n2} {
		t.Logf("%s before SIGTERM: %s", n.Name(), twoNodeMetrics(t, n.Addr(),
			"outrider_actor_activations_total", "outrider_outbox_leader", "outrider_outbox_published_total", "outrider_ws_sessions"))
	}

	stopAt := time.Now()
	require.NoError(t, n2.Signal(syscall.SIGTERM))
	for _, c := range []*twoNodeWS{w3, w0, w2} {
		code := c.closeCode(10 * time.Second)
		require.Equal(t, websocket.CloseGoingAway, code, "%s: close code on SIGTERM", c.name)
	}
	t.Logf("SIGTERM on node 2: its 3 clients got close 1001 within %s", time.Since(stopAt).Round(time.Millisecond))
	select {
	case <-n2.Exited():
	case <-time.After(15 * time.Second):
		require.FailNow(t, "node 2 did not exit within 15s of SIGTERM")
	}
	require.True(t, n2.ExitState().Success(), "node 2 exit after SIGTERM: %v", n2.ExitState())
	t.Logf("node 2 exited cleanly %s after SIGTERM", time.Since(stopAt).Round(time.Millisecond))

	api1.step(orderC, 4, admin, drvC) // missed by the watcher
	w4 := twoNodeDial(t, "watcher C resumed@node1", n1.Addr(), customer.token)
	w4.subscribe(chC, &last)
	w4.expect(chC, 4, 4)
	w4.quiet(chC)
	api1.step(orderC, 5, admin, drvC)
	w4.expect(chC, 5, 5)
	api1.step(orderC, 6, admin, drvC)
	w4.expect(chC, 6, 6)
	w4.quiet(chC)
	// The node 1 watcher of order A is still live and saw nothing new.
	w1.quiet(chA)
	t.Logf("order C: resumed on node 1 with since=%d, got 4 (missed), then 5 and 6 live, once each; %s since the nodes started",
		last, time.Since(started).Round(time.Millisecond))
}

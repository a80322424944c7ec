package process_test

// I4 under node churn (DESIGN.md §2, §4, §8; issue 11): watchers on random
// nodes of a fleet of `outrider serve` processes resubscribe at random
// since values, unsubscribe and reconnect, while a driver keeps committing
// through random nodes and nodes are killed (SIGKILL), stopped (SIGTERM),
// restarted and added. A watcher whose node goes away reconnects to
// another and resumes each channel from the last seq it received. Every
// subscription's stream is then held against the journal in Postgres
// (transport/ws/wstest.Check): since+1, since+2, … each once, in order,
// and every open stream up to the order's last event. Every helper here is
// prefixed churn so it cannot clash with the other tests of this package.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/internal/backoff"
	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/internal/fleet/fleettest"
	"github.com/outrider/outrider/persistence/postgres"
	"github.com/outrider/outrider/transport/ws/wstest"
	"github.com/outrider/outrider/wire"
)

// churnFleet is the fleet, the nodes the test uses and a client of each.
type churnFleet struct {
	f       *fleet.Fleet
	nodes   []*fleet.Node
	clients map[*fleet.Node]*e2e.Client
}

// add reserves node name and makes its client.
func (c *churnFleet) add(t *testing.T, name string) {
	t.Helper()
	n, err := c.f.Reserve(name)
	require.NoError(t, err)
	cl := e2e.NewClient(t, n.URL())
	cl.HTTP.Timeout = 15 * time.Second
	c.nodes = append(c.nodes, n)
	c.clients[n] = cl
}

// pick returns a random running node (it may die before it is used).
func (c *churnFleet) pick() *fleet.Node {
	var up []*fleet.Node
	for _, n := range c.nodes {
		if n.Running() {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return c.nodes[0]
	}
	return up[rand.IntN(len(up))]
}

// send sends a request as u (anonymous when nil) to a random node. It
// runs on the test's goroutine and on others: a failure to get an answer
// is returned, not reported.
func (c *churnFleet) send(t *testing.T, u *e2e.Caller, method, path string, body any) (*e2e.Response, error) {
	cl := c.clients[c.pick()]
	as := cl.Anon()
	if u != nil {
		as = u.On(cl)
	}
	return as.Try(t, method, path, body)
}

// do is send that returns the status and the decoded body (nil when it is
// not JSON).
func (c *churnFleet) do(t *testing.T, u *e2e.Caller, method, path string, body any) (int, map[string]any, error) {
	r, err := c.send(t, u, method, path, body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	_ = json.Unmarshal(r.Body, &out)
	return r.Status, out, nil
}

// must retries a request on random nodes until it gets want (the nodes
// may be coming and going), for setup and the final commits, and decodes
// the answer into out (unless nil).
func (c *churnFleet) must(t *testing.T, u *e2e.Caller, method, path string, body any, want int, out any) {
	t.Helper()
	var last string
	for range 100 {
		r, err := c.send(t, u, method, path, body)
		if err == nil && r.Status == want {
			if out != nil {
				r.Decode(t, want, out)
			}
			return
		}
		last = fmt.Sprint(err)
		if err == nil {
			last = r.String()
		}
		_ = backoff.Sleep(t.Context(), 100*time.Millisecond) // a retry's pace, not a wait for a condition
	}
	t.Fatalf("%s %s: never %d; last %s", method, path, want, last)
}

// churnOrder is one order and its driver; step commits its next event.
type churnOrder struct {
	id, channel string
	admin, drv  *e2e.Caller
	assigned    bool         // only the order's committer goroutine uses it
	acked       atomic.Int64 // the newest version a node answered with
	refused     atomic.Int64 // non-2xx answers, re-read and gone on from

	mu    sync.Mutex
	other map[string]int // the non-2xx answers and failures, by status and code
}

func (o *churnOrder) note(status int, out map[string]any, err error) {
	o.refused.Add(1)
	key := fmt.Sprintf("%d %v", status, out["code"])
	if err != nil {
		key = "no answer"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.other == nil {
		o.other = map[string]int{}
	}
	o.other[key]++
}

func (o *churnOrder) see(version int64) {
	for v := o.acked.Load(); v < version && !o.acked.CompareAndSwap(v, version); v = o.acked.Load() {
	}
}

// step commits the next event (assign, or the driver's decline) through
// a random node. A node that dies or answers otherwise leaves it unknown
// whether the command took effect: step re-reads the order and goes on
// from its committed state.
func (o *churnOrder) step(t *testing.T, c *churnFleet) error {
	ctx := t.Context()
	for attempt := 0; attempt < 200; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var status int
		var out map[string]any
		var err error
		if o.assigned {
			status, out, err = c.do(t, o.drv, http.MethodPost, "/v1/orders/"+o.id+"/decline", map[string]any{})
		} else {
			status, out, err = c.do(t, o.admin, http.MethodPost, "/v1/orders/"+o.id+"/assign", map[string]any{"driver_id": o.drv.ID()})
		}
		if err == nil && status == http.StatusOK {
			o.assigned = !o.assigned
			o.see(int64(out["version"].(float64)))
			return nil
		}
		o.note(status, out, err)
		if err == nil && status != http.StatusConflict && status != http.StatusForbidden && status < 500 {
			return fmt.Errorf("order %s: %d %v", o.id, status, out)
		}
		_ = backoff.Sleep(ctx, 50*time.Millisecond)
		status, out, err = c.do(t, o.admin, http.MethodGet, "/v1/orders/"+o.id, nil)
		if err == nil && status == http.StatusOK {
			o.assigned = out["status"] == "assigned"
			o.see(int64(out["version"].(float64)))
		}
	}
	return fmt.Errorf("order %s: no commit in 200 attempts", o.id)
}

// churnWatcher is one watcher and the orders it may watch.
type churnWatcher struct {
	w      *wstest.Watcher
	orders []*churnOrder
	// counts, for the log
	resubscribes, resumes, dropped, refusals int
	why                                      map[string]int // refusals by answer
}

func (cw *churnWatcher) refused(err error) {
	cw.refusals++
	if cw.why == nil {
		cw.why = map[string]int{}
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, ':'); i > 0 {
		msg = msg[:i]
	}
	cw.why[msg]++
}

func churnSince(o *churnOrder) (*int64, int64) {
	acked := o.acked.Load()
	if rand.IntN(8) == 0 {
		return nil, acked
	}
	s := rand.Int64N(acked + 1)
	return &s, 0
}

// connect dials random nodes until one takes the watcher, then subscribes
// every channel: from the last seq received when there is one (a resume),
// else at a random since.
func (cw *churnWatcher) connect(ctx context.Context, c *churnFleet) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if attempt == 300 {
			return errors.New("watcher: no node took the connection in 300 attempts")
		}
		if !cw.w.Connected() {
			if err := cw.w.Dial(c.pick().Addr()); err != nil {
				_ = backoff.Sleep(ctx, 50*time.Millisecond)
				continue
			}
		}
		ok := true
		for _, o := range cw.orders {
			if cw.w.Subscribed(o.channel) {
				continue
			}
			s, floor := churnSince(o)
			if last := cw.w.Last(o.channel); last >= 0 {
				s, floor = &last, 0
				cw.resumes++
			}
			if err := cw.w.Subscribe(o.channel, s, floor); err != nil {
				cw.refused(err)
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		_ = backoff.Sleep(ctx, 50*time.Millisecond)
	}
}

// churn resubscribes at random since values, unsubscribes and moves to
// another node until stop; a connection its node dropped is resumed on
// another.
func (cw *churnWatcher) churn(ctx context.Context, c *churnFleet, stop *atomic.Bool) error {
	for !stop.Load() {
		if !cw.w.Connected() {
			cw.dropped++
			if err := cw.connect(ctx, c); err != nil {
				return err
			}
			continue
		}
		o := cw.orders[rand.IntN(len(cw.orders))]
		switch x := rand.IntN(10); {
		case x < 6:
			if cw.w.Subscribed(o.channel) && cw.w.Unsubscribe(o.channel) != nil {
				continue // its node went away: resumed above
			}
			s, floor := churnSince(o)
			if err := cw.w.Subscribe(o.channel, s, floor); err != nil {
				cw.refused(err)
				continue
			}
			cw.resubscribes++
		case x < 8:
			if cw.w.Subscribed(o.channel) {
				_ = cw.w.Unsubscribe(o.channel)
			}
		default: // to another node, resuming
			cw.w.Close()
			if err := cw.connect(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestI4UnderNodeChurn(t *testing.T) {
	const (
		customers, ordersEach = 3, 2
		watchersEach          = 2 // per customer; as many again for the admin
		rounds                = 4 // of: a node goes (kill -9 or SIGTERM), commits go on, it comes back
		perPhase              = 15
	)
	// The nats membership, serve's default: node4 joins with nothing listed.
	// Watchers send far more than a phone would: the inbound rate limit
	// is not what this test is about.
	f := fleettest.New(t, fleettest.Options{Options: fleet.Options{Name: "wschurn",
		Env: map[string]string{"OUTRIDER_WS_INBOUND_RATE": "1000000", "OUTRIDER_WS_INBOUND_BURST": "1000000"}}})
	c := &churnFleet{f: f, clients: map[*fleet.Node]*e2e.Client{}}
	for _, name := range []string{"node1", "node2", "node3", "node4"} {
		c.add(t, name)
	}
	for _, n := range c.nodes[:3] {
		_, err := f.Start(n.Name(), nil)
		require.NoError(t, err)
	}
	fleettest.WaitReady(t, c.nodes[:3]...)

	ctx := t.Context()
	admin := e2e.ConnectNode(t, f, c.nodes[0]).Admin
	var orders []*churnOrder
	var watchers []*churnWatcher
	for i := range customers {
		email := fmt.Sprintf("churn-c%d-%d@example.com", i, time.Now().UnixNano())
		var tok wire.Tokens
		c.must(t, nil, http.MethodPost, "/v1/auth/signup", map[string]string{"name": "C", "email": email, "password": "grape-lantern-42"}, 201, &tok)
		cust := admin.Client.FromTokens(tok, "grape-lantern-42")
		var mine []*churnOrder
		for j := range ordersEach {
			demail := fmt.Sprintf("churn-d%d-%d-%d@example.com", i, j, time.Now().UnixNano())
			c.must(t, admin, http.MethodPost, "/v1/users", map[string]any{"name": "D", "email": demail, "password": "orchid-tundra-1906", "role": "driver"}, 201, nil)
			c.must(t, nil, http.MethodPost, "/v1/auth/login", map[string]string{"email": demail, "password": "orchid-tundra-1906"}, 200, &tok)
			drv := admin.Client.FromTokens(tok, "orchid-tundra-1906")
			c.must(t, drv, http.MethodPut, "/v1/drivers/me/availability", map[string]any{"available": true}, 200, nil)
			var created wire.Order
			c.must(t, cust, http.MethodPost, "/v1/orders", map[string]any{
				"pickup": map[string]any{"address": "1 Depot Rd"}, "dropoff": map[string]any{"address": "9 Home St"},
				"delivery_option": "standard"}, 201, &created)
			o := &churnOrder{id: created.ID, admin: admin, drv: drv}
			o.channel = "order:" + o.id
			o.see(1)
			mine = append(mine, o)
		}
		orders = append(orders, mine...)
		for range watchersEach {
			watchers = append(watchers, &churnWatcher{w: wstest.NewWatcher(cust.Token), orders: mine})
		}
	}
	for range customers * watchersEach {
		watchers = append(watchers, &churnWatcher{w: wstest.NewWatcher(admin.Token), orders: orders})
	}
	for _, cw := range watchers {
		t.Cleanup(cw.w.Close)
		require.NoError(t, cw.connect(ctx, c))
	}

	// Commits and watchers go on until the node churn is over.
	var stop atomic.Bool
	var commits atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(orders)+len(watchers))
	for _, o := range orders {
		wg.Go(func() {
			for !stop.Load() {
				if err := o.step(t, c); err != nil {
					errs <- err
					return
				}
				commits.Add(1)
			}
		})
	}
	for _, cw := range watchers {
		wg.Go(func() {
			if err := cw.churn(ctx, c, &stop); err != nil {
				errs <- err
			}
		})
	}
	// progress waits until perPhase more commits were acknowledged.
	progress := func(what string) {
		t.Helper()
		from := commits.Load()
		require.Eventually(t, func() bool { return commits.Load() >= from+perPhase || len(errs) > 0 },
			2*time.Minute, 20*time.Millisecond, "commits stalled %s", what)
		require.Empty(t, errs)
	}
	progress("at the start")
	var log []string
	for round := range rounds {
		if round == 1 { // scale out
			fleettest.Start(t, f, "node4", nil)
			log = append(log, "node4 joined")
			progress("after node4 joined")
		}
		up := f.Running()
		victim := up[rand.IntN(len(up))]
		if round%2 == 0 {
			require.NoError(t, victim.Kill())
			log = append(log, victim.Name()+" killed")
		} else {
			victim.Term(fleet.DefaultGrace)
			log = append(log, victim.Name()+" stopped")
		}
		progress("with " + victim.Name() + " gone")
		require.NoError(t, victim.Restart())
		fleettest.WaitReady(t, victim)
		log = append(log, victim.Name()+" back")
		progress("with " + victim.Name() + " back")
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Every watcher watches all it may; then each order's last event
	// (cancelled), which every open stream must receive.
	for _, cw := range watchers {
		require.NoError(t, cw.connect(ctx, c))
	}
	latest := map[string]int64{}
	for _, o := range orders {
		var cancelled wire.Order
		c.must(t, admin, http.MethodPut, "/v1/orders/"+o.id+"/status", map[string]any{"status": "cancelled"}, 200, &cancelled)
		latest[o.id] = cancelled.Version
	}
	ws := make([]*wstest.Watcher, len(watchers))
	for i, cw := range watchers {
		ws[i] = cw.w
	}
	require.Empty(t, wstest.WaitCaughtUp(time.Minute, latest, ws...))

	set := f.Settings()
	store, err := postgres.Open(ctx, set.PGURL, postgres.Options{Schema: set.Schema})
	require.NoError(t, err)
	defer store.Close()
	journals := map[string][]order.Published{}
	for _, o := range orders {
		j, err := wstest.Journal(ctx, store, o.id)
		require.NoError(t, err)
		require.Equal(t, latest[o.id], int64(len(j)), "order %s: the journal ends at the last acknowledged version", o.id)
		journals[o.id] = j
	}
	events := wstest.Check(t, journals, ws...)

	streams, resubscribes, resumes, dropped, refusals, refused := 0, 0, 0, 0, 0, int64(0)
	whys := map[string]int{}
	for _, cw := range watchers {
		streams += len(cw.w.Streams())
		resubscribes += cw.resubscribes
		resumes += cw.resumes
		dropped += cw.dropped
		refusals += cw.refusals
		for k, v := range cw.why {
			whys[k] += v
		}
	}
	answers := map[string]int{}
	for _, o := range orders {
		refused += o.refused.Load()
		for k, v := range o.other {
			answers[k] += v
		}
	}
	t.Logf("churn: %v; commits answered otherwise: %v; subscribes refused: %v", log, answers, whys)
	t.Logf("%d orders, %d commits (%d answers re-read), %d watchers: %d streams (%d resubscribes at random since, "+
		"%d resumes, %d connections lost with their node, %d subscribes refused), %d events checked against the journal",
		len(orders), commits.Load(), refused, len(watchers), streams, resubscribes, resumes, dropped, refusals, events)
	require.Positive(t, dropped, "nodes went away under some watchers")
}

package process_test

// Embedded mode end to end (issue 4). The test builds the binary and runs
// `outrider dev` as a child process on a temporary data dir, the way a
// newcomer runs `make run`, and checks what they rely on: the banner and
// the demo accounts, an order's lifecycle over HTTP with a WebSocket
// watching it, and that kill -9 loses nothing acknowledged. After each
// kill the node restarts on the same data dir and every acknowledged
// change is checked three ways (order row, timeline, WebSocket replay from
// seq 0), along with the demo accounts (same passwords, same users, no
// duplicates) and the access tokens issued before the kill (the JWT key
// lives in the data dir). The first kill follows a single 2xx; the next
// ones land while several goroutines create and advance orders.

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

const (
	// devWorkers drive order lifecycles concurrently, each with a driver
	// of its own (a driver holds one active order at a time).
	devWorkers = 4
	// devAcksPerRound is how many acknowledged writes the workers make
	// before each concurrent kill.
	devAcksPerRound = 40
	// devRounds is how many times the node is killed while workers run
	// (after the first, single-writer kill).
	devRounds = 2
)

// devEnv is the environment of every node here: cheap password hashing,
// and request limits lifted because the workers all come from one IP
// (the limits have their own tests in transport/httpapi and transport/ws).
// OUTRIDER_* variables of the caller's environment are dropped.
var devEnv = []string{
	"OUTRIDER_BCRYPT_COST=4",
	"OUTRIDER_RATE_PER_SECOND=1e6", "OUTRIDER_RATE_BURST=1000000",
	"OUTRIDER_AUTH_RATE_PER_SECOND=1e6", "OUTRIDER_AUTH_RATE_BURST=1000000",
	"OUTRIDER_WS_INBOUND_RATE=1e6", "OUTRIDER_WS_INBOUND_BURST=1000000",
}

func TestDevEmbeddedMode(t *testing.T) {
	bin := devBuild(t)
	t.Run("kill -9 loses nothing acknowledged", func(t *testing.T) {
		t.Parallel()
		devKillScenario(t, bin)
	})
	t.Run("no-demo", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		n := devStart(t, bin, dir, "no-demo", "--no-demo")
		_, err := os.Stat(filepath.Join(dir, "demo-accounts.json"))
		require.ErrorIs(t, err, os.ErrNotExist, "--no-demo writes no demo file")
		devRequireBanner(t, n, dir, nil)
		// Nobody holds the demo customer's e-mail: signing up with it works.
		n.api.Anon().Post(t, "/v1/auth/signup", map[string]string{
			"name": "C", "email": "customer@demo.outrider", "password": "grape-lantern-42"}).RequireStatus(t, http.StatusCreated)
	})
}

func devKillScenario(t *testing.T, bin string) {
	dir := t.TempDir()
	led := &devLedger{acks: map[string]map[int64]string{}}

	// Start 1: banner, demo accounts, one order watched through its life.
	n := devStart(t, bin, dir, "start-1")
	demo := devReadDemo(t, dir)
	devRequireBanner(t, n, dir, demo.accounts)
	users := make([]*e2e.Caller, len(demo.accounts)) // admin, customer, driver, driver
	for i, a := range demo.accounts {
		users[i] = n.login(t, a)
	}
	admin, cust, drivers := users[0], users[1], users[2:]
	for _, d := range drivers {
		require.Equal(t, "available", d.On(n.api).Driver(t, "me").Status, "demo drivers start available")
	}

	a := n.advance(t, led, devNext("", "", admin, cust, drivers[0]))
	require.Equal(t, int64(1), a.Version)
	watch := e2e.Dial(t, "watcher@start-1", n.addr, cust.Token, nil)
	watch.Subscribe("order:"+a.ID, nil)
	for range 4 { // assigned, accepted, picked_up, in_transit
		o := n.advance(t, led, devNext(a.ID, a.Status, admin, cust, drivers[0]))
		require.Equal(t, a.Version+1, o.Version)
		a = o
		devExpect(t, watch, "order:"+a.ID, a.Version, []string{a.Status})
	}
	// Kill right after a 2xx: placing a second order.
	b := n.advance(t, led, devNext("", "", admin, cust, drivers[1]))
	n.kill9(t)
	watch.Dropped(10 * time.Second)

	// Start 2: everything acknowledged is there, the stream resumes, and a
	// live event continues the sequence.
	n = devRestart(t, bin, dir, "start-2", demo, users, 2)
	states := devVerify(t, n, led, admin)
	require.Equal(t, "in_transit", states[a.ID].Status)
	require.Equal(t, "pending", states[b.ID].Status)
	watch = e2e.Dial(t, "watcher@start-2", n.addr, cust.Token, nil)
	zero := int64(0)
	watch.Subscribe("order:"+a.ID, &zero)
	devExpect(t, watch, "order:"+a.ID, 1, []string{"pending", "assigned", "accepted", "picked_up", "in_transit"})
	a = n.advance(t, led, devNext(a.ID, a.Status, admin, cust, drivers[0]))
	require.Equal(t, int64(6), a.Version)
	devExpect(t, watch, "order:"+a.ID, 6, []string{"delivered"})

	// Concurrent rounds: demo drivers and drivers added now, one per
	// worker; the second demo driver picks up order b where it stands.
	workers := []*devWorker{{drv: drivers[0]}, {drv: drivers[1], order: b.ID, status: b.Status}}
	for i := len(workers); i < devWorkers; i++ {
		workers = append(workers, &devWorker{drv: n.withAdmin(admin).CreateDriver(t, 0, true)})
	}
	for r := range devRounds {
		devRound(t, n, led, workers, admin, cust, led.count()+devAcksPerRound)
		n = devRestart(t, bin, dir, fmt.Sprintf("start-%d", r+3), demo, users, len(workers))
		devVerify(t, n, led, admin)
		devResume(t, n, workers, admin)
	}

	// Work continues: every open order is delivered and every driver's
	// capacity is free again (the load bookkeeping survived the kills).
	for _, w := range workers {
		for steps := 0; w.order != "" && w.status != "delivered" && steps < 6; steps++ {
			o := n.advance(t, led, devNext(w.order, w.status, admin, cust, w.drv))
			w.status = o.Status
		}
		require.True(t, w.order == "" || w.status == "delivered", "order %s stuck at %s", w.order, w.status)
		d := admin.On(n.api).Driver(t, w.drv.ID())
		require.Equal(t, 0, d.ActiveOrders, "driver %s", w.drv.ID())
		require.Equal(t, "available", d.Status, "driver %s", w.drv.ID())
	}
	t.Logf("%d acknowledged writes on %d orders checked across %d kills", led.count(), len(led.orders), devRounds+1)
}

// devRestart starts the node again on dir and checks what the restart must
// keep: the demo file and banner unchanged, the same passwords logging in
// to the same users, no duplicated demo driver (drivers in all), and the
// access tokens issued before the kill still accepted.
func devRestart(t *testing.T, bin, dir, name string, demo devDemo, users []*e2e.Caller, drivers int) *devNode {
	t.Helper()
	n := devStart(t, bin, dir, name)
	again := devReadDemo(t, dir)
	require.Equal(t, string(demo.raw), string(again.raw), "the demo file is kept as it was")
	devRequireBanner(t, n, dir, demo.accounts)
	for i, a := range demo.accounts {
		require.Equal(t, users[i].ID(), n.login(t, a).ID(), "%s is the same user after a restart", a.Email)
		var me wire.User
		users[i].On(n.api).Get(t, "/v1/me").Decode(t, http.StatusOK, &me)
		require.Equal(t, users[i].ID(), me.ID, "a token issued before the kill still works")
	}
	var list wire.Page[wire.Driver]
	users[0].On(n.api).Get(t, "/v1/drivers?limit=200").Decode(t, http.StatusOK, &list)
	require.Len(t, list.Items, drivers, "no demo driver is created twice")
	for _, a := range demo.accounts[2:] {
		listed := 0
		for _, d := range list.Items {
			if d.Email == a.Email {
				listed++
			}
		}
		require.Equal(t, 1, listed, "demo driver %s is listed once", a.Email)
	}
	return n
}

// devVerify checks every acknowledged change on n: the order's version is
// at least the last acknowledged seq (at most one unacknowledged command
// per order was in flight at a kill), its timeline has seq 1..version with
// the acknowledged statuses, and a WebSocket subscribe with since=0
// replays exactly those events in order. Orders nobody acknowledged may
// exist only as unacknowledged creations (one per worker per kill).
// It returns the orders' current state.
func devVerify(t *testing.T, n *devNode, led *devLedger, admin *e2e.Caller) map[string]wire.Order {
	t.Helper()
	led.mu.Lock()
	orders := slices.Clone(led.orders)
	acks := make(map[string]map[int64]string, len(led.acks))
	for id, m := range led.acks {
		acks[id] = maps.Clone(m)
	}
	led.mu.Unlock()

	admin = admin.On(n.api)
	ws := e2e.Dial(t, "verifier@"+n.name, n.addr, admin.Token, nil)
	states := map[string]wire.Order{}
	zero := int64(0)
	unackedChanges := 0
	for _, id := range orders {
		var last int64
		for seq := range acks[id] {
			last = max(last, seq)
		}
		o := admin.Order(t, id)
		require.GreaterOrEqual(t, o.Version, last, "order %s lost acknowledged changes", id)
		require.LessOrEqual(t, o.Version, last+1, "order %s has more changes than were sent", id)
		if o.Version > last {
			unackedChanges++
		}
		tl := admin.Timeline(t, id)
		require.Len(t, tl, int(o.Version), "order %s timeline", id)
		statuses := make([]string, len(tl))
		for i, it := range tl {
			require.Equal(t, int64(i+1), it.Seq, "order %s timeline", id)
			if want, ok := acks[id][it.Seq]; ok {
				require.Equal(t, want, it.Status, "order %s seq %d", id, it.Seq)
			}
			statuses[i] = it.Status
		}
		require.Equal(t, statuses[len(statuses)-1], o.Status, "order %s row and timeline", id)
		ch := "order:" + id
		ws.Subscribe(ch, &zero)
		devExpect(t, ws, ch, 1, statuses)
		ws.Unsubscribe(ch)
		states[id] = o
	}

	var all wire.Page[wire.Order]
	admin.Get(t, "/v1/orders?limit=200").Decode(t, http.StatusOK, &all)
	unacked := 0
	for _, o := range all.Items {
		if _, ok := acks[o.ID]; !ok {
			unacked++
			require.Equal(t, "pending", o.Status, "unacknowledged order %s went beyond its creation", o.ID)
		}
	}
	require.LessOrEqual(t, unacked, devWorkers*devRounds, "orders nobody placed")
	t.Logf("%s: %d orders verified (%d acknowledged writes); committed without an ack so far: %d changes, %d new orders",
		n.name, len(orders), led.count(), unackedChanges, unacked)
	return states
}

// devExpect reads the next events of channel: seq from, from+1, … in
// order, none missing or repeated, each carrying the order at that seq
// with the given status (WS.Expect checks seq, event name and version).
func devExpect(t *testing.T, ws *e2e.WS, channel string, from int64, statuses []string) {
	t.Helper()
	events := make([]string, len(statuses))
	for i, st := range statuses {
		events[i] = devEvent(st)
	}
	for i, o := range ws.Expect(channel, from, events...) {
		require.Equal(t, statuses[i], o.Status, "%s seq %d", channel, from+int64(i))
	}
}

// devWorker drives one order at a time to delivered with its own driver,
// then places the next.
type devWorker struct {
	drv    *e2e.Caller
	order  string // the order in hand; "" before the first
	status string // its last known status
}

// devRound runs the workers on n until the ledger holds target
// acknowledged writes, and the goroutine that records the target-th sends
// SIGKILL at once, with the other workers' requests in flight. A request
// cut off by the kill is unacknowledged; any other failure fails the test.
func devRound(t *testing.T, n *devNode, led *devLedger, workers []*devWorker, admin, cust *e2e.Caller, target int) {
	t.Helper()
	var killed atomic.Bool
	var once sync.Once
	kill := func() { once.Do(func() { killed.Store(true); n.signalKill() }) }
	var wg sync.WaitGroup
	var cut atomic.Int32
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ops := 0; ops < 4*devAcksPerRound && !killed.Load(); ops++ {
				o, err := n.try(t, devNext(w.order, w.status, admin, cust, w.drv))
				if err != nil {
					if !killed.Load() {
						t.Errorf("worker %d: %v", i, err)
						kill()
					}
					cut.Add(1)
					return
				}
				w.order, w.status = o.ID, o.Status
				if led.record(o) == target {
					kill()
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		kill()
		<-done // every request fails fast once the node is gone
		t.Fatalf("the workers did not reach %d acknowledged writes in 30s", target)
	}
	require.True(t, killed.Load(), "the workers stopped before %d acknowledged writes", target)
	n.waitExit(t)
	t.Logf("%s killed after acknowledged write #%d, %d requests cut off", n.name, target, cut.Load())
}

// devResume reads each worker's order after a restart: its last command
// may have committed without being acknowledged.
func devResume(t *testing.T, n *devNode, workers []*devWorker, admin *e2e.Caller) {
	t.Helper()
	for _, w := range workers {
		if w.order == "" {
			continue
		}
		w.status = admin.On(n.api).Order(t, w.order).Status
	}
}

// devLedger records every acknowledged change: order id → seq → status.
type devLedger struct {
	mu     sync.Mutex
	acks   map[string]map[int64]string
	orders []string // in the order first acknowledged
	n      int
}

// record adds an acknowledged change and returns how many there are.
func (l *devLedger) record(o wire.Order) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.acks[o.ID] == nil {
		l.acks[o.ID] = map[int64]string{}
		l.orders = append(l.orders, o.ID)
	}
	l.acks[o.ID][o.Version] = o.Status
	l.n++
	return l.n
}

func (l *devLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// devStep is one request that moves an order on, sent as a user (on
// whichever node runs when it is sent).
type devStep struct {
	as           *e2e.Caller
	method, path string
	body         any
	want         int
	next         string // the order's status after it
}

// devNext is the step after status cur of order id; "" or "delivered"
// places a new order.
func devNext(id, cur string, admin, cust, drv *e2e.Caller) devStep {
	path := "/v1/orders/" + id
	switch cur {
	case "", "delivered":
		return devStep{cust, http.MethodPost, "/v1/orders", map[string]any{
			"pickup": map[string]any{"address": "1 Depot Rd"}, "dropoff": map[string]any{"address": "9 Home St"},
			"delivery_option": "standard"}, http.StatusCreated, "pending"}
	case "pending":
		return devStep{admin, http.MethodPost, path + "/assign", map[string]any{"driver_id": drv.ID()}, http.StatusOK, "assigned"}
	case "assigned":
		return devStep{drv, http.MethodPost, path + "/accept", nil, http.StatusOK, "accepted"}
	}
	next := map[string]string{"accepted": "picked_up", "picked_up": "in_transit", "in_transit": "delivered"}[cur]
	return devStep{drv, http.MethodPut, path + "/status", map[string]any{"status": next}, http.StatusOK, next}
}

// devEvent is the WebSocket event name of the change to status.
func devEvent(status string) string {
	switch status {
	case "pending":
		return "order.created"
	case "assigned", "accepted":
		return "order." + status
	}
	return "order.status_changed"
}

type devAccount struct {
	Role     string `json:"role"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

type devDemo struct {
	raw      []byte
	accounts []devAccount
}

// devReadDemo reads the demo accounts from the data dir: an admin, a
// customer and two drivers, with passwords, readable by the owner only.
func devReadDemo(t *testing.T, dir string) devDemo {
	t.Helper()
	path := filepath.Join(dir, "demo-accounts.json")
	info, err := os.Stat(path)
	require.NoError(t, err, "the demo accounts file")
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "demo passwords are for the owner only")
	d := devDemo{}
	d.raw, err = os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(d.raw, &d.accounts))
	var roles []string
	for _, a := range d.accounts {
		roles = append(roles, a.Role)
		require.NotEmpty(t, a.Email)
		require.GreaterOrEqual(t, len(a.Password), 12, "%s has a real password", a.Email)
	}
	require.Equal(t, []string{"admin", "customer", "driver", "driver"}, roles)
	return d
}

// devRequireBanner checks the start-up banner once: the URLs, the data
// dir, the way to production and exactly the given demo logins.
func devRequireBanner(t *testing.T, n *devNode, dir string, accounts []devAccount) {
	t.Helper()
	out := n.stdout.String()
	require.Equal(t, 1, strings.Count(out, "Outrider dev node ready"), "one banner:\n%s", out)
	for _, want := range []string{"http://" + n.addr + "/console", "http://" + n.addr, "ws://" + n.addr + "/v1/ws", dir, "outrider serve"} {
		require.Contains(t, out, want, "banner")
	}
	listed := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for _, a := range accounts {
			if slices.Equal(f, []string{a.Role, a.Email, a.Password}) {
				listed++
			}
		}
	}
	require.Equal(t, len(accounts), listed, "the banner lists each demo login once:\n%s", out)
	if len(accounts) == 0 {
		require.NotContains(t, out, "Demo accounts")
		require.NotContains(t, out, "@demo.outrider")
	}
}

// devBuild builds the outrider binary from this module.
func devBuild(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	gomod := strings.TrimSpace(string(out))
	require.NotEmpty(t, gomod)
	require.NotEqual(t, os.DevNull, gomod)
	bin := filepath.Join(t.TempDir(), "outrider")
	build := exec.Command("go", "build", "-o", bin, "./cmd/outrider")
	build.Dir = filepath.Dir(gomod)
	msg, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", msg)
	return bin
}

// devNode is one `outrider dev` child process and the kit's client of it.
type devNode struct {
	name   string
	addr   string
	cmd    *exec.Cmd
	api    *e2e.Client
	stdout *e2e.SyncBuffer
	stderr string // file path
	exited chan struct{}
}

// devStart starts `outrider dev` on dir and a free 127.0.0.1 port, and
// waits until /readyz answers 200 and the banner is out (the node serves
// before it has seeded the demo accounts; the banner comes after). The
// process is killed when t ends; if t failed, its output is logged.
func devStart(t *testing.T, bin, dir, name string, args ...string) *devNode {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	n := &devNode{name: name, addr: addr, stdout: &e2e.SyncBuffer{}, exited: make(chan struct{}),
		stderr: filepath.Join(t.TempDir(), name+".stderr"),
		api:    e2e.NewClient(t, "http://"+addr)}
	n.api.HTTP.Timeout = 10 * time.Second
	errFile, err := os.Create(n.stderr)
	require.NoError(t, err)
	defer errFile.Close()
	n.cmd = exec.Command(bin, append([]string{"dev", "--data-dir", dir, "--http-addr", addr}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OUTRIDER_") {
			n.cmd.Env = append(n.cmd.Env, kv)
		}
	}
	n.cmd.Env = append(n.cmd.Env, devEnv...)
	n.cmd.Stdout, n.cmd.Stderr = n.stdout, errFile
	require.NoError(t, n.cmd.Start())
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		n.signalKill()
		<-n.exited
		if t.Failed() {
			errs, _ := os.ReadFile(n.stderr)
			t.Logf("%s stdout:\n%s\n%s stderr (%s):\n%s", name, n.stdout.String(), name, n.stderr, e2e.Tail(string(errs), 60))
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	var last string
	devPoll(t, n, deadline, "/readyz 200", &last, func() bool {
		var ok bool
		ok, last = n.api.Ready(t)
		return ok
	})
	devPoll(t, n, deadline, "the banner", nil, func() bool {
		return strings.Contains(n.stdout.String(), "For production run")
	})
	return n
}

// devPoll polls cond until it holds, failing at deadline or if the node
// exits first; last, if not nil, is what cond last saw.
func devPoll(t *testing.T, n *devNode, deadline time.Time, what string, last *string, cond func() bool) {
	t.Helper()
	saw := func() string {
		if last == nil {
			return ""
		}
		return " (last: " + *last + ")"
	}
	for !cond() {
		select {
		case <-n.exited:
			t.Fatalf("%s exited waiting for %s%s", n.name, what, saw())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s by the deadline%s", n.name, what, saw())
		}
	}
}

// signalKill sends SIGKILL; safe from any goroutine, a no-op once exited.
func (n *devNode) signalKill() { _ = n.cmd.Process.Signal(syscall.SIGKILL) }

func (n *devNode) kill9(t *testing.T) {
	t.Helper()
	n.signalKill()
	n.waitExit(t)
}

func (n *devNode) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit after SIGKILL", n.name)
	}
	n.api.HTTP.CloseIdleConnections()
}

// withAdmin is the kit's API of n with admin as its admin.
func (n *devNode) withAdmin(admin *e2e.Caller) *e2e.API {
	return &e2e.API{Client: n.api, Admin: admin.On(n.api)}
}

// try sends step s to n and returns the order it acknowledged: an answer
// with the step's status and the order at its next status. Safe from any
// goroutine; a request that got no answer (the node was killed) is an
// error like any other.
func (n *devNode) try(t *testing.T, s devStep) (wire.Order, error) {
	var o wire.Order
	r, err := s.as.On(n.api).Try(t, s.method, s.path, s.body)
	if err != nil {
		return o, err
	}
	if r.Status != s.want {
		return o, fmt.Errorf("%s", r)
	}
	if err := json.Unmarshal(r.Body, &o); err != nil {
		return o, fmt.Errorf("%s: %w", r, err)
	}
	if o.Status != s.next {
		return o, fmt.Errorf("%s: status %q, want %q", r.Req, o.Status, s.next)
	}
	return o, nil
}

// advance sends step from the test goroutine and records the ack.
func (n *devNode) advance(t *testing.T, led *devLedger, s devStep) wire.Order {
	t.Helper()
	o, err := n.try(t, s)
	require.NoError(t, err)
	led.record(o)
	return o
}

// login logs a demo account in on n.
func (n *devNode) login(t *testing.T, a devAccount) *e2e.Caller {
	t.Helper()
	u := n.api.Login(t, a.Email, a.Password)
	require.NotEmpty(t, u.Token)
	return u
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outrider/outrider/cmd/outrider-chaos/oracle"
	"github.com/outrider/outrider/internal/fleet"
)

// Config is one chaos run.
type Config struct {
	// Binary is the outrider executable; empty builds one into Dir (with
	// the race detector when Race is set).
	Binary string
	Race   bool
	// Dir receives the binary, the nodes' logs, race reports, the history
	// and report files. Empty: a new temporary directory.
	Dir string
	// PGURL, NATSURL: the shared servers (fleet defaults when empty).
	PGURL, NATSURL string
	// Provider is the cluster membership: nats (default) or automanaged.
	Provider string
	// Nodes is how many nodes start; Schedule the faults (see ParseSchedule).
	Nodes    int
	Schedule []Action
	// Workers drive orders concurrently; Racers assigns race per order;
	// Customers and Drivers are created at the start.
	Workers, Racers, Customers, Drivers int
	// Watchers are WebSocket sessions; WatchersPerOrder watch each order.
	Watchers, WatchersPerOrder int
	// OpTimeout bounds one operation across its retries.
	OpTimeout time.Duration
	// ReadyTimeout bounds a node's start (a -race build starts slowly).
	ReadyTimeout time.Duration
	// LBDelay is how long after a node is killed or sent SIGTERM the
	// harness stops routing requests to it, like a load balancer's health
	// check; in between, clients meet the dead or draining node and retry.
	LBDelay time.Duration
	// Progress receives a line per phase and fault (nil: none).
	Progress io.Writer
}

// Action is one scheduled step: kill (SIGKILL), rejoin (restart the last
// node killed), add (start one more node), rolling (restart every running
// node in turn, SIGTERM then start, waiting for each to be ready), end.
type Action struct {
	Kind string        `json:"kind"`
	At   time.Duration `json:"at"`
	Node string        `json:"node,omitempty"` // kill's target (default node1)
}

// ParseSchedule reads "kill@10s,rejoin@20s,add@30s,rolling@40s,end@60s";
// kill takes a node as kill:node2@10s. Offsets count from the start of the
// workload; an action whose time has passed (a slow rolling restart) runs
// at once. The schedule must end with end.
func ParseSchedule(s string) ([]Action, error) {
	var out []Action
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		what, at, ok := strings.Cut(part, "@")
		if !ok {
			return nil, fmt.Errorf("schedule: %q is not action@offset", part)
		}
		d, err := time.ParseDuration(at)
		if err != nil {
			return nil, fmt.Errorf("schedule: %q: %w", part, err)
		}
		kind, node, _ := strings.Cut(what, ":")
		switch kind {
		case "kill", "rejoin", "add", "rolling", "end":
		default:
			return nil, fmt.Errorf("schedule: unknown action %q", kind)
		}
		out = append(out, Action{Kind: kind, At: d, Node: node})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	if len(out) == 0 || out[len(out)-1].Kind != "end" {
		return nil, errors.New("schedule: the last action must be end@<offset>")
	}
	return out, nil
}

// Result is a run's outcome.
type Result struct {
	Command   string          `json:"command,omitempty"`
	Provider  string          `json:"provider"`
	Race      bool            `json:"race"`
	Nodes     int             `json:"nodes_start"`
	NodesEnd  int             `json:"nodes_end"`
	Schedule  []Action        `json:"schedule"`
	Started   time.Time       `json:"started"`
	Duration  time.Duration   `json:"duration"`
	Faults    []oracle.Fault  `json:"faults"`
	Verdict   *oracle.Verdict `json:"verdict"`
	Races     []string        `json:"races"`
	Dir       string          `json:"dir"`
	Workload  WorkloadStats   `json:"workload"`
	Watchers  WatcherStats    `json:"watchers"`
	Targets   []Target        `json:"targets"`
	HistPath  string          `json:"history_path,omitempty"`
	Unsettled int             `json:"streams_behind_at_end"`
}

// WorkloadStats say what the workload did.
type WorkloadStats struct {
	Workers   int `json:"workers"`
	Customers int `json:"customers"`
	Drivers   int `json:"drivers"`
	Finished  int `json:"orders_finished"`
	Unsettled int `json:"orders_left_open"`
}

// WatcherStats say what the watchers saw besides events.
type WatcherStats struct {
	Sessions   int            `json:"sessions"`
	Resubs     int            `json:"resubscribes"`
	Errors     map[string]int `json:"errors,omitempty"`
	CloseCodes map[string]int `json:"close_codes,omitempty"`
	// ErrorSamples are the first error frames in full; a refused
	// subscribe is asked again, so these are no violation by themselves.
	ErrorSamples []string `json:"error_samples,omitempty"`
}

// OK reports a run without violations or races.
func (r *Result) OK() bool { return r.Verdict != nil && r.Verdict.OK() && len(r.Races) == 0 }

func (c *Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
}

// Run runs the scenario and judges it. An error means the run could not
// be carried out; violations are in the Result.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	cfg.defaults()
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "outrider-chaos-"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	if cfg.Binary == "" {
		cfg.progress("building outrider (race %v)", cfg.Race)
		if cfg.Binary, err = fleet.Build(ctx, cfg.Race, cfg.Dir); err != nil {
			return nil, err
		}
	}
	// Like the fleet's HTTP rate limits, the WebSocket inbound limit is
	// lifted: one harness session subscribes to many orders at once (all
	// of them again after a reconnect), which is not what the limit is for.
	f, err := fleet.New(ctx, fleet.Options{Binary: cfg.Binary, Dir: cfg.Dir, Name: "chaos",
		PGURL: cfg.PGURL, NATSURL: cfg.NATSURL, Provider: cfg.Provider,
		Env: map[string]string{"OUTRIDER_WS_INBOUND_RATE": "1000", "OUTRIDER_WS_INBOUND_BURST": "2000"}})
	if err != nil {
		return nil, err
	}
	res = &Result{Provider: f.Settings().Provider, Race: cfg.Race, Nodes: cfg.Nodes, Schedule: cfg.Schedule, Dir: cfg.Dir}
	closed := false
	defer func() {
		if !closed {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_ = f.Close(cctx)
		}
	}()
	s := &scenario{cfg: cfg, f: f, router: newRouter(), hist: &recorder{}}
	var b [4]byte
	_, _ = rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	s.client = newClient(run, s.router, s.hist, cfg.OpTimeout)

	// With automanaged membership a node only ever knows the seed list it
	// started with: reserve the nodes added later so every list has them.
	adds := 0
	for _, a := range cfg.Schedule {
		if a.Kind == "add" {
			adds++
			if res.Provider == fleet.ProviderAutoManaged {
				if _, err := f.Reserve(nodeName(cfg.Nodes + adds)); err != nil {
					return nil, err
				}
			}
		}
	}
	cfg.progress("starting %d nodes (provider %s) in %s", cfg.Nodes, res.Provider, cfg.Dir)
	for i := 1; i <= cfg.Nodes; i++ {
		if _, err := f.Start(nodeName(i), nil); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= cfg.Nodes; i++ {
		if err := s.ready(ctx, i); err != nil {
			return nil, err
		}
	}
	sess, err := f.Admin(ctx, f.Node(nodeName(1)))
	if err != nil {
		return nil, err
	}
	admin := user{id: sess.UserID, role: "admin", token: sess.Token}
	a, err := setup(ctx, s.client, admin, cfg.Customers, cfg.Drivers)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	cfg.progress("%d customers, %d drivers; %d workers, %d watcher sessions", len(a.customers), len(a.drivers), cfg.Workers, cfg.Watchers)

	ws := newWatchers(s.router, admin.token, cfg.Watchers, cfg.WatchersPerOrder)
	ws.start()
	w := &workload{c: s.client, a: a, racers: cfg.Racers, watch: ws.watch, done: ws.done}
	res.Started = time.Now()
	var workers sync.WaitGroup
	for i := range cfg.Workers {
		workers.Go(func() { w.run(ctx, i) })
	}
	faultErr := s.faults(ctx, res.Started)
	w.stopped.Store(true)
	cfg.progress("workload stopping")
	workers.Wait()
	res.Duration = time.Since(res.Started)
	res.Faults = s.faultLog
	res.NodesEnd = len(f.Running())

	// Let the watchers catch up with every order's last seq.
	st, err := oracle.ReadStore(ctx, f.Settings().PGURL, f.Settings().Schema)
	if err != nil {
		return nil, err
	}
	want := map[string]int64{}
	for id, o := range st.Orders {
		want[id] = o.Version
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	res.Unsettled = ws.waitCaughtUp(wctx, want)
	cancel()
	streams := ws.close()
	ws.mu.Lock()
	res.Watchers = WatcherStats{Sessions: cfg.Watchers, Resubs: ws.redials, Errors: ws.errors, CloseCodes: map[string]int{},
		ErrorSamples: ws.samples}
	for code, n := range ws.closes {
		res.Watchers.CloseCodes[strconv.Itoa(code)] = n
	}
	ws.mu.Unlock()
	// Read the store again: the journal is final now that no worker runs.
	if st, err = oracle.ReadStore(ctx, f.Settings().PGURL, f.Settings().Schema); err != nil {
		return nil, err
	}
	w.mu.Lock()
	res.Workload = WorkloadStats{Workers: cfg.Workers, Customers: cfg.Customers, Drivers: cfg.Drivers, Finished: w.finished, Unsettled: w.stuck}
	w.mu.Unlock()

	cfg.progress("judging %d operations, %d orders, %d streams", len(s.hist.all()), len(st.Orders), len(streams))
	ops := s.hist.all()
	res.Verdict = oracle.Check(oracle.Input{Ops: ops, Store: st, Streams: streams, Faults: res.Faults,
		Dir: filepath.Join(cfg.Dir, "linearizability")})
	res.HistPath = filepath.Join(cfg.Dir, "history.json")
	if err := writeJSON(res.HistPath, map[string]any{"ops": ops, "streams": streams, "faults": res.Faults}); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	closed = true
	if err := f.Close(cctx); err != nil {
		cfg.progress("closing the fleet: %v", err)
	}
	for _, r := range f.RaceReports() {
		res.Races = append(res.Races, r.String())
	}
	res.Targets = targets(res)
	if faultErr != nil {
		return res, faultErr
	}
	return res, nil
}

func (c *Config) defaults() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Provider == "" {
		c.Provider = fleet.ProviderNATS
	}
	if len(c.Schedule) == 0 {
		c.Schedule, _ = ParseSchedule(fullSchedule)
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Racers == 0 {
		c.Racers = 3
	}
	if c.Customers == 0 {
		c.Customers = 4
	}
	if c.Drivers == 0 {
		c.Drivers = 2 * c.Workers
	}
	if c.WatchersPerOrder == 0 {
		c.WatchersPerOrder = 2
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 20 * time.Second
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 2 * time.Minute
	}
}

func nodeName(i int) string { return "node" + strconv.Itoa(i) }

func nodeIndex(name string) int {
	i, _ := strconv.Atoi(strings.TrimPrefix(name, "node"))
	return i
}

// scenario is a run in progress.
type scenario struct {
	cfg      Config
	f        *fleet.Fleet
	router   *router
	hist     *recorder
	client   *client
	faultLog []oracle.Fault
}

// ready waits for node i and routes traffic to it.
func (s *scenario) ready(ctx context.Context, i int) error {
	n := s.f.Node(nodeName(i))
	if err := n.WaitReady(ctx, s.cfg.ReadyTimeout); err != nil {
		return err
	}
	s.router.set(i, n.Addr())
	return nil
}

// unroute takes node i out of the router LBDelay from now, as a load
// balancer's health check would: until then requests still reach the dead
// node and fail, and clients retry elsewhere.
func (s *scenario) unroute(i int) {
	if s.cfg.LBDelay <= 0 {
		s.router.remove(i)
		return
	}
	gen := s.router.generation(i)
	time.AfterFunc(s.cfg.LBDelay, func() { s.router.removeIf(i, gen) })
}

// members lists the cluster addresses of the running nodes.
func (s *scenario) members() []string {
	var out []string
	for _, n := range s.f.Running() {
		out = append(out, n.ClusterAddr())
	}
	return out
}

// faults applies the schedule, returning at its end action.
func (s *scenario) faults(ctx context.Context, t0 time.Time) error {
	var killed []string
	next := s.cfg.Nodes + 1
	for _, a := range s.cfg.Schedule {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(t0.Add(a.At))):
		}
		s.cfg.progress("+%s %s %s", time.Since(t0).Round(time.Millisecond), a.Kind, a.Node)
		switch a.Kind {
		case "end":
			return nil
		case "kill":
			name := a.Node
			if name == "" {
				name = nodeName(1)
			}
			n := s.f.Node(name)
			if n == nil || !n.Running() {
				return fmt.Errorf("kill: %s is not running", name)
			}
			fa := oracle.Fault{Kind: "kill", Node: name, Owned: n.ClusterAddr(), Members: s.members(), At: time.Now().UnixNano()}
			if err := n.Kill(); err != nil {
				return err
			}
			s.unroute(nodeIndex(name))
			fa.Done = time.Now().UnixNano()
			s.faultLog = append(s.faultLog, fa)
			killed = append(killed, name)
		case "rejoin":
			if len(killed) == 0 {
				return errors.New("rejoin: no node was killed")
			}
			name := killed[len(killed)-1]
			killed = killed[:len(killed)-1]
			fa := oracle.Fault{Kind: "rejoin", Node: name, Members: s.members(), At: time.Now().UnixNano()}
			if err := s.f.Node(name).Restart(); err != nil {
				return err
			}
			if err := s.ready(ctx, nodeIndex(name)); err != nil {
				return err
			}
			fa.Done = time.Now().UnixNano()
			s.faultLog = append(s.faultLog, fa)
		case "add":
			name := nodeName(next)
			next++
			fa := oracle.Fault{Kind: "add", Node: name, Members: s.members(), At: time.Now().UnixNano()}
			if _, err := s.f.Start(name, nil); err != nil {
				return err
			}
			if err := s.ready(ctx, nodeIndex(name)); err != nil {
				return err
			}
			fa.Done = time.Now().UnixNano()
			s.faultLog = append(s.faultLog, fa)
		case "rolling":
			if err := s.rolling(ctx); err != nil {
				return err
			}
		}
		s.cfg.progress("+%s %s done", time.Since(t0).Round(time.Millisecond), a.Kind)
	}
	return nil
}

// rolling restarts every running node in turn: out of the router, SIGTERM
// (graceful, up to the fleet's grace), start, ready, back in the router.
func (s *scenario) rolling(ctx context.Context) error {
	whole := oracle.Fault{Kind: "rolling", Members: s.members(), At: time.Now().UnixNano()}
	for _, n := range s.f.Running() {
		step := oracle.Fault{Kind: "restart", Node: n.Name(), Members: s.members(), At: time.Now().UnixNano()}
		// SIGTERM first: requests keep coming until the balancer notices
		// (LBDelay), as they would, and the node must drain them.
		drop := time.AfterFunc(s.cfg.LBDelay, func() { s.router.remove(nodeIndex(n.Name())) })
		err := n.Restart()
		if drop.Stop() {
			s.router.remove(nodeIndex(n.Name()))
		}
		if err != nil {
			return err
		}
		if err := s.ready(ctx, nodeIndex(n.Name())); err != nil {
			return err
		}
		step.Done = time.Now().UnixNano()
		s.faultLog = append(s.faultLog, step)
		s.cfg.progress("  restarted %s in %s", n.Name(), time.Duration(step.Done-step.At).Round(time.Millisecond))
	}
	whole.Done = time.Now().UnixNano()
	s.faultLog = append(s.faultLog, whole)
	return nil
}

// fullSchedule is the full run: kill -9, rejoin, scale-out to four
// nodes and a rolling restart of all four, with traffic throughout.
const fullSchedule = "kill@15s,rejoin@30s,add@45s,rolling@60s,end@100s"

// shortSchedule is the make-test run: a kill -9 and the rejoin.
const shortSchedule = "kill@6s,rejoin@14s,end@24s"

// shortProvider is the membership the short run uses: serve's default
// (OUTRIDER_CHAOS_PROVIDER=automanaged runs it on the fixed-hosts one).
const shortProvider = fleet.ProviderNATS

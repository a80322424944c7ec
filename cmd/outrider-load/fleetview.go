package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/internal/backoff"
)

// runFleetview measures the fleet channel's viewports (issue #17): D
// drivers, one socket each, stream fixes — a share of them inside a city
// box, the rest over a country — while an admin watches the fleet with a
// viewport on the city, without one (the whole fleet), or both at once.
// Each configuration is measured -runs times, round robin, over a window
// after the watcher's snapshot: per watcher the WebSocket messages,
// frames (counted inside ?batch=1 arrays), bytes and frames by type it
// received per second; the node's CPU, RSS and accepted fixes; the load
// tool's own CPU. Every -every value is one batch of runs with the same
// drivers and sockets. One RESULT line per run, then a summary.
//
// With -nodes the drivers are spread over several nodes of one cluster
// (driver i on node i mod the count) and the watchers sit on the first,
// which gets the other nodes' fixes through NATS; the figures are then
// summed over the nodes and given per node. With -procs the driver
// sockets live in child processes (fleetdrivers.go), so that no process
// holds more than its open-file limit allows.
func runFleetview(ctx context.Context, t *target, args []string, out io.Writer) error {
	cfg, err := parseFleetview(t, args)
	if err != nil {
		return err
	}
	if cfg.shard.n > 0 {
		return runFleetShard(ctx, t, cfg, out)
	}
	nodes := cfg.targets(t)
	for _, n := range nodes {
		if n.pid <= 0 {
			return fmt.Errorf("-pid (or -pids, one per node) is required: the nodes' CPU and RSS are read from /proc")
		}
	}
	if err := checkFileLimits(cfg.socketsPerProc(), cfg.socketsPerNode(), cfg.pids); err != nil {
		return err
	}
	m, err := t.minter()
	if err != nil {
		return err
	}
	a := t.api(32)
	adminUser, admin, err := t.loginDemo(ctx, a, "admin")
	if err != nil {
		return err
	}
	start := time.Now()
	ids, err := ensureDrivers(ctx, a, admin, m, cfg.drivers, t.driverCache())
	if err != nil {
		return err
	}
	logf("%d load drivers ready in %s", len(ids), time.Since(start).Round(time.Millisecond))

	var drv fleetDrivers
	if cfg.procs == 0 {
		drv, err = startDrivers(ctx, cfg, m, ids, 0, 0)
	} else {
		drv, err = spawnShards(ctx, cfg, args)
	}
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			drv.close()
		}
	}()

	var results []fleetRun
	for bi, every := range cfg.every {
		if err := drv.setEvery(every); err != nil {
			return err
		}
		logf("drivers send a fix every %s; warming up %s", every, cfg.warmup)
		if err := backoff.Sleep(ctx, cfg.warmup); err != nil {
			return err
		}
		if err := awaitIngest(ctx, nodes, drv, cfg.warmupMax); err != nil {
			return err
		}
		release, err := holdQuiet(ctx, cfg.quiet)
		if err != nil {
			return err
		}
		for run := 1; run <= cfg.runs; run++ {
			for _, c := range cfg.configs {
				r, err := measureFleet(ctx, nodes, cfg, m.token(adminUser.ID, "admin"), drv, c, every, run)
				if err != nil {
					release()
					return err
				}
				r.label = cfg.label
				r.print(out)
				results = append(results, r)
			}
		}
		release()
		if bi < len(cfg.every)-1 {
			logf("batch with fixes every %s done", every)
		}
	}
	p := drv.progress()
	stopped = true
	closed := drv.close()
	printFleetSummary(out, cfg, results)
	fmt.Fprintf(out, "driver sockets closed by the nodes: %s; error frames to drivers: %s; failed writes: %s\n", closed, commas(float64(p.replies)), commas(float64(p.writeErrs)))
	return nil
}

// fleetConfig is the flags of the fleetview scenario.
type fleetConfig struct {
	drivers, runs, concurrency, sources, writers int
	every                                        []time.Duration
	nodes                                        []string // the watchers' node first
	pids                                         []int    // the nodes' process ids, in -nodes' order
	procs                                        int      // driver processes (0: the drivers in this one)
	shard                                        shardSpec
	configs                                      []string
	lat, lng, cityKM, countryKM, cityShare       float64
	speed                                        float64
	warmup, warmupMax, settle, duration, gap     time.Duration
	batch                                        bool
	quiet, label                                 string
	seed                                         uint64
}

// fleetConfigs are the watcher configurations: a viewport on the city, the
// whole fleet (no viewport), or one of each at once.
var fleetConfigs = []string{"viewport", "fleet", "both"}

func parseFleetview(t *target, args []string) (fleetConfig, error) {
	fs := flag.NewFlagSet("fleetview", flag.ContinueOnError)
	var c fleetConfig
	every := fs.String("every", "1s", "each driver sends a fix this often; a comma-separated list measures each in turn with the same drivers (e.g. 1s,5s)")
	configs := fs.String("configs", "viewport,fleet,both", "watcher configurations to measure, comma-separated: viewport (a viewport on the city box), fleet (no viewport), both (one of each at once)")
	fs.IntVar(&c.drivers, "drivers", 50_000, "driver sockets (load driver accounts are created once, then reused)")
	fs.IntVar(&c.runs, "runs", 3, "runs of each configuration (round robin)")
	fs.Float64Var(&c.lat, "lat", 52.52, "centre of the city and country boxes (latitude)")
	fs.Float64Var(&c.lng, "lng", 13.405, "centre of the city and country boxes (longitude)")
	fs.Float64Var(&c.cityKM, "city-km", 30, "side of the city box (km), also the viewport")
	fs.Float64Var(&c.countryKM, "country-km", 800, "side of the country box (km)")
	fs.Float64Var(&c.cityShare, "city-share", 0.05, "share of the drivers inside the city box; the rest are spread over the country box")
	fs.Float64Var(&c.speed, "speed", 10, "a driver moves at most this fast (m/s, a random direction each fix); the node drops fixes over 70 m/s")
	fs.DurationVar(&c.warmup, "warmup", 15*time.Second, "stream fixes this long before the first run of each -every (driver actors activate)")
	fs.DurationVar(&c.warmupMax, "warmup-max", time.Minute, "after -warmup, wait at most this long more until the driver actors accept 95 % of the fixes sent (the node sets up a new driver session's job feed one at a time)")
	fs.DurationVar(&c.settle, "settle", 5*time.Second, "after a watcher subscribes, wait this long (its snapshot) before counting")
	fs.DurationVar(&c.duration, "duration", 15*time.Second, "counting window of each run")
	fs.DurationVar(&c.gap, "gap", 3*time.Second, "pause between runs (the node forgets the closed watchers)")
	fs.BoolVar(&c.batch, "batch", true, "watchers ask for batched frames (?batch=1)")
	fs.IntVar(&c.concurrency, "concurrency", 64, "sockets dialled at once")
	fs.IntVar(&c.sources, "sources", 4, "spread the driver sockets over this many source addresses 127.0.0.1…: one address has ~28,000 ephemeral ports")
	fs.IntVar(&c.writers, "writers", 64, "goroutines sending the drivers' fixes (each paces its share of the drivers over the interval)")
	fs.StringVar(&c.quiet, "quiet", "", "create this file during each batch of runs and remove it after (a shared machine's sign to pause heavy work); waits while it exists")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the positions and moves")
	fs.StringVar(&c.label, "label", "", "a word for the RESULT lines")
	nodes := fs.String("nodes", "", "the HTTP addresses of the nodes, comma-separated: driver i connects to node i mod the count, the watchers (and the API calls) to the first; every node must be on 127.0.0.1 (default -addr)")
	pids := fs.String("pids", "", "the nodes' process ids in -nodes' order, comma-separated, for their CPU and RSS from /proc (default -pid)")
	fs.IntVar(&c.procs, "procs", 0, "spread the driver sockets over this many child processes of this tool (a process's open-file limit caps its sockets); 0: keep them in this process")
	shard := fs.String("shard", "", "internal: k/n, run as driver process k of n (started by -procs)")
	if err := parseFlags(fs, t, args); err != nil {
		return c, err
	}
	var err error
	if c.every, err = parseDurations(*every); err != nil {
		return c, fmt.Errorf("-every: %w", err)
	}
	c.configs = splitList(*configs)
	if c.nodes = splitList(*nodes); len(c.nodes) == 0 {
		c.nodes = []string{t.addr}
	}
	if c.pids, err = parseInts(*pids); err != nil {
		return c, fmt.Errorf("-pids: %w", err)
	}
	if len(c.pids) == 0 {
		c.pids = []int{t.pid}
	}
	if c.shard, err = parseShard(*shard); err != nil {
		return c, fmt.Errorf("-shard: %w", err)
	}
	return c, c.check()
}

func (c fleetConfig) check() error {
	var errs []error
	bad := func(cond bool, msg string) {
		if cond {
			errs = append(errs, errors.New(msg))
		}
	}
	bad(c.drivers < 1 || c.drivers > 100_000, "-drivers must be 1..100000")
	bad(c.runs < 1 || c.runs > 10, "-runs must be 1..10")
	bad(len(c.every) == 0, "-every needs at least one interval")
	for _, e := range c.every {
		bad(e < 200*time.Millisecond || e > 30*time.Second, "-every must be 200ms..30s each")
	}
	bad(len(c.configs) == 0, "-configs needs at least one configuration")
	for _, s := range c.configs {
		bad(!slices.Contains(fleetConfigs, s), fmt.Sprintf("-configs: %q is not one of %s", s, strings.Join(fleetConfigs, ", ")))
	}
	bad(c.lat < -80 || c.lat > 80 || c.lng < -180 || c.lng > 180, "-lat must be -80..80, -lng -180..180")
	bad(c.cityKM < 0.1 || c.cityKM > 200, "-city-km must be 0.1..200")
	bad(c.countryKM < c.cityKM || c.countryKM > 3_000, "-country-km must be -city-km..3000")
	bad(c.cityShare < 0 || c.cityShare > 1, "-city-share must be 0..1")
	bad(c.speed < 0 || c.speed > 60, "-speed must be 0..60 m/s (the node drops fixes over 70 m/s)")
	bad(c.warmup < 0 || c.warmup > 2*time.Minute, "-warmup must be 0..2m")
	bad(c.warmupMax < 0 || c.warmupMax > 5*time.Minute, "-warmup-max must be 0..5m")
	bad(c.settle < 0 || c.settle > time.Minute, "-settle must be 0..1m")
	bad(c.duration <= 0 || c.duration > 2*time.Minute, "-duration must be 0..2m")
	bad(c.gap < 0 || c.gap > time.Minute, "-gap must be 0..1m")
	bad(c.concurrency < 1 || c.concurrency > 512, "-concurrency must be 1..512")
	bad(c.sources < 1 || c.sources > 250, "-sources must be 1..250")
	bad(c.writers < 1 || c.writers > 4096, "-writers must be 1..4096")
	bad(len(c.nodes) > 16, "-nodes: at most 16 nodes")
	for _, n := range c.nodes {
		if err := (&target{addr: n}).check(); err != nil {
			errs = append(errs, fmt.Errorf("-nodes: %w", err))
		}
	}
	bad(len(c.pids) != len(c.nodes), fmt.Sprintf("-pids: %d process ids for %d nodes", len(c.pids), len(c.nodes)))
	bad(c.procs < 0 || c.procs > 16, "-procs must be 0..16")
	bad(max(c.procs, 1)*c.sources > 250, "-sources × -procs must be at most 250 (each driver process has its own source addresses)")
	// The quiet file may be held 10 minutes at most.
	perBatch := time.Duration(c.runs*len(c.configs)) * (c.settle + c.duration + c.gap)
	bad(c.quiet != "" && perBatch > 9*time.Minute, fmt.Sprintf("a batch of runs takes ~%s: with -quiet, keep it under 9m (fewer -runs or -configs, a shorter -duration)", perBatch.Round(time.Second)))
	return errors.Join(errs...)
}

// parseDurations reads a comma-separated list of durations.
func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, p := range splitList(s) {
		d, err := time.ParseDuration(p)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkFileLimits refuses a run that cannot open its driver sockets: a
// load process needs one descriptor per driver socket it holds (and a few
// hundred for its HTTP clients and watchers), a node one per session and
// the 1,024 it keeps for itself (ws.Config's MaxSessionsNode), under
// their open-file limits. Child driver processes raise their limit as
// this one does (raiseFileLimit), so this process's limit stands for
// theirs.
func checkFileLimits(perProc, perNode int, pids []int) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if need := uint64(perProc) + 256; need > l.Cur {
		return fmt.Errorf("%d driver sockets in one load process need %d open files; its limit is %d (more -procs, or raise the hard limit, e.g. NOFILE=200000 on-serve.sh, which needs CAP_SYS_RESOURCE)", perProc, need, l.Cur)
	}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
		if err != nil {
			return err
		}
		nodeLimit, err := parseNofile(string(b))
		if err != nil {
			return err
		}
		if need := int64(perNode) + 1024 + 64; need > nodeLimit {
			return fmt.Errorf("%d driver sockets on one node need %d open files there (a session each and the 1,024 it keeps); node %d's limit is %d: at most %d a node (more -nodes)", perNode, need, pid, nodeLimit, nodeLimit-1024-64)
		}
	}
	return nil
}

// parseNofile reads the soft "Max open files" limit from a
// /proc/<pid>/limits text.
func parseNofile(limits string) (int64, error) {
	for _, line := range strings.Split(limits, "\n") {
		rest, ok := strings.CutPrefix(line, "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		if f[0] == "unlimited" {
			return math.MaxInt64, nil
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no \"Max open files\" line in /proc limits")
}

// awaitIngest waits, at most max, until the driver actors (on all the
// nodes) accept at least 95 % of the fixes the drivers send (over
// 3-second samples), and logs how it went: a driver's fixes count only
// once his session is set up, and a node sets up the sessions of a
// reconnecting fleet one at a time.
func awaitIngest(ctx context.Context, nodes []*target, drv fleetDrivers, max time.Duration) error {
	accepted := series("outrider_driver_fixes_total", "outcome", "accepted")
	start := time.Now()
	for {
		m0, err := scrapeAll(ctx, nodes)
		if err != nil {
			return err
		}
		sent0 := drv.progress().sent
		if err := backoff.Sleep(ctx, 3*time.Second); err != nil {
			return err
		}
		m1, err := scrapeAll(ctx, nodes)
		if err != nil {
			return err
		}
		sent, got := float64(drv.progress().sent-sent0), 0.0
		for i := range nodes {
			got += delta(m0[i], m1[i], accepted)
		}
		switch {
		case got >= 0.95*sent:
			logf("the nodes accept %s of %s fixes sent (after %s more)", commas(got), commas(sent), time.Since(start).Round(time.Second))
			return nil
		case time.Since(start) >= max:
			logf("the nodes still accept only %s of %s fixes sent after %s more: measuring anyway", commas(got), commas(sent), max)
			return nil
		}
		logf("the nodes accept %s of %s fixes sent: waiting", commas(got), commas(sent))
	}
}

// scrapeAll scrapes every node's /metrics.
func scrapeAll(ctx context.Context, nodes []*target) ([]metrics, error) {
	out := make([]metrics, len(nodes))
	for i, n := range nodes {
		m, err := n.scrape(ctx)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.addr, err)
		}
		out[i] = m
	}
	return out, nil
}

// holdQuiet waits until path does not exist, then creates it; the
// returned func removes it. An empty path holds nothing.
func holdQuiet(ctx context.Context, path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	for {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		logf("%s exists (someone is measuring): waiting", path)
		if err := backoff.Sleep(ctx, 10*time.Second); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(path, []byte("outrider-load fleetview\n"), 0o644); err != nil {
		return nil, err
	}
	logf("holding %s", path)
	var once sync.Once
	return func() {
		once.Do(func() {
			if err := os.Remove(path); err != nil {
				logf("remove %s: %v", path, err)
				return
			}
			logf("released %s", path)
		})
	}, nil
}

// sourceDialers are WebSocket dialers bound to 127.0.0.(first+1) …
// 127.0.0.(first+n): each source address has its own ephemeral ports, so
// n addresses open n × ~28,000 sockets to one node address.
func sourceDialers(first, n int) []*websocket.Dialer {
	out := make([]*websocket.Dialer, n)
	for i := range out {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(first+i+1))}, Timeout: 15 * time.Second}
		out[i] = &websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024, HandshakeTimeout: 15 * time.Second,
			NetDialContext: nd.DialContext}
	}
	return out
}

// dialFrom dials url with token, retrying an overloaded node like
// target.dial.
func dialFrom(ctx context.Context, d *websocket.Dialer, url, token string) (*websocket.Conn, error) {
	h := http.Header{"Authorization": {"Bearer " + token}}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		c, resp, err := d.DialContext(ctx, url, h)
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err == nil {
			return c, nil
		}
		lastErr = err
		if resp != nil {
			lastErr = fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
			if resp.StatusCode/100 == 4 {
				break
			}
		}
		if backoff.Sleep(ctx, time.Duration(attempt+1)*200*time.Millisecond) != nil {
			break
		}
	}
	return nil, lastErr
}

// fleetStream is the drivers' side: their positions and clocks, written
// by `writers` goroutines, driver i by writer i % writers.
type fleetStream struct {
	cfg       fleetConfig
	conns     []*websocket.Conn
	city      box
	country   box
	inCity    []bool
	lat, lng  []float64
	clock     []fixClock
	period    atomic.Int64 // the fix interval now, in ns
	sent      atomic.Int64
	writeErrs atomic.Int64
}

func newFleetStream(cfg fleetConfig, conns []*websocket.Conn) *fleetStream {
	s := &fleetStream{cfg: cfg, conns: conns, city: newBox(cfg.lat, cfg.lng, cfg.cityKM),
		country: newBox(cfg.lat, cfg.lng, cfg.countryKM), inCity: make([]bool, len(conns)),
		lat: make([]float64, len(conns)), lng: make([]float64, len(conns)), clock: make([]fixClock, len(conns))}
	rng := rand.New(rand.NewPCG(cfg.seed, 0xf1ee7))
	inCity := cityDrivers(len(conns), cfg.cityShare)
	for i := range conns {
		s.inCity[i] = isCity(i, len(conns), inCity)
		b := s.country
		if s.inCity[i] {
			b = s.city
		}
		s.lat[i], s.lng[i] = b.random(rng)
	}
	return s
}

// cityDrivers is how many of n drivers start (and stay) in the city box.
func cityDrivers(n int, share float64) int {
	return min(n, int(float64(n)*share+0.5))
}

// isCity says whether driver i of n is one of the k in the city: every
// (n/k)th, so that the city's drivers are spread evenly over the writers'
// rounds. (The first k were sent at the start of each round, all within
// a second: at a fix every 10 s a 15 s window caught one burst of the
// city's fixes or two, 171 or 342 frames/s to the viewport for 257.)
func isCity(i, n, k int) bool { return i*k/n != (i+1)*k/n }

// write is writer w: it sends a fix for each of its drivers in turn,
// paced so that each one sends every period, until ctx ends. A driver
// whose socket failed is skipped from then on.
func (s *fleetStream) write(ctx context.Context, w int) {
	var mine []int
	for i := w; i < len(s.conns); i += s.cfg.writers {
		mine = append(mine, i)
	}
	if len(mine) == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(s.cfg.seed, uint64(w)))
	dead := make([]bool, len(mine))
	buf := make([]byte, 0, 128)
	// Each writer starts at its own phase, so the fleet's fixes spread.
	if backoff.Sleep(ctx, time.Duration(rng.Int64N(int64(time.Second)))) != nil {
		return
	}
	// One pacer for as long as the period stays: a new one's first wait
	// does not wait, so a pacer per round would send a writer with few
	// drivers round after round without pause.
	var p pacer
	var period time.Duration
	for {
		if now := time.Duration(s.period.Load()); now != period {
			period, p = now, pacer{rate: float64(len(mine)) / now.Seconds()}
		}
		for k, i := range mine {
			if p.wait(ctx) != nil {
				return
			}
			if dead[k] {
				continue
			}
			b := s.country
			if s.inCity[i] {
				b = s.city
			}
			s.lat[i], s.lng[i] = b.step(rng, s.lat[i], s.lng[i], s.cfg.speed*period.Seconds())
			buf = fixFrame(buf[:0], s.lat[i], s.lng[i], s.clock[i].next(time.Now()))
			c := s.conns[i]
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.WriteMessage(websocket.TextMessage, buf); err != nil {
				dead[k] = true
				if ctx.Err() == nil {
					s.writeErrs.Add(1)
				}
				continue
			}
			s.sent.Add(1)
		}
	}
}

// frameCounts is what a watcher received: WebSocket messages, frames
// (each element of a batch array is one), bytes, and frames by type.
type frameCounts struct {
	msgs, frames, bytes, location, driver, cells, other int64
}

var (
	typeKey      = []byte(`"type":"`)
	typeLocation = []byte(`"type":"location"`)
	typeDriver   = []byte(`"type":"driver"`)
	typeCells    = []byte(`"type":"cells"`)
)

// countFrames counts one WebSocket message: a frame, or a JSON array of
// frames (?batch=1). Only a frame's own object has a "type" key — a
// location's, driver's or cells' fields hold none — so the keys count
// the frames.
func countFrames(msg []byte) frameCounts {
	c := frameCounts{msgs: 1, bytes: int64(len(msg))}
	c.frames = int64(bytes.Count(msg, typeKey))
	c.location = int64(bytes.Count(msg, typeLocation))
	c.driver = int64(bytes.Count(msg, typeDriver))
	c.cells = int64(bytes.Count(msg, typeCells))
	c.other = c.frames - c.location - c.driver - c.cells
	return c
}

func (c frameCounts) minus(o frameCounts) frameCounts {
	return frameCounts{c.msgs - o.msgs, c.frames - o.frames, c.bytes - o.bytes, c.location - o.location,
		c.driver - o.driver, c.cells - o.cells, c.other - o.other}
}

// watcher is one admin socket on the fleet channel.
type watcher struct {
	name     string // "viewport" or "fleet"
	conn     *websocket.Conn
	mu       sync.Mutex
	counts   frameCounts
	acked    chan error // the subscribe's ack (nil) or error
	ackOnce  sync.Once
	closed   atomic.Bool
	closeErr atomic.Value // error that ended the read loop
}

func (w *watcher) snapshot() frameCounts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts
}

// ackWait is how long a watcher waits for its subscribe's ack.
const ackWait = 60 * time.Second

// openWatcher dials an admin socket, subscribes it to fleet (with the
// city box as viewport when view), and reads it until it closes.
func openWatcher(ctx context.Context, t *target, cfg fleetConfig, token string, view bool) (*watcher, error) {
	u := "ws://" + t.addr + "/v1/ws"
	if cfg.batch {
		u += "?batch=1"
	}
	c, err := dialFrom(ctx, dialer, u, token)
	if err != nil {
		return nil, fmt.Errorf("watcher socket: %w", err)
	}
	w := &watcher{name: "fleet", conn: c, acked: make(chan error, 1)}
	sub := map[string]any{"type": "subscribe", "id": "sub-fleet", "channel": "fleet"}
	if view {
		w.name = "viewport"
		b := newBox(cfg.lat, cfg.lng, cfg.cityKM)
		sub["viewport"] = map[string]float64{"south": b.lat0, "west": b.lng0, "north": b.lat1, "east": b.lng1}
	}
	go func() {
		err := readLoop(c, func(msg []byte, _ time.Time) {
			n := countFrames(msg)
			w.mu.Lock()
			w.counts = addCounts(w.counts, n)
			w.mu.Unlock()
			if bytes.Contains(msg, []byte(`"id":"sub-fleet"`)) {
				w.ackOnce.Do(func() { w.acked <- ackError(msg) })
			}
		})
		w.closeErr.Store(err)
		w.closed.Store(true)
		w.ackOnce.Do(func() { w.acked <- fmt.Errorf("closed before the ack: %w", err) })
	}()
	asked := time.Now()
	if err := c.WriteJSON(sub); err != nil {
		closeAll([]*websocket.Conn{c})
		return nil, err
	}
	select {
	case err := <-w.acked:
		if err != nil {
			closeAll([]*websocket.Conn{c})
			return nil, fmt.Errorf("subscribe fleet: %w", err)
		}
		logf("%s watcher subscribed in %s", w.name, time.Since(asked).Round(time.Millisecond))
	case <-time.After(ackWait):
		closeAll([]*websocket.Conn{c})
		return nil, fmt.Errorf("subscribe fleet (%s): no ack in %s", w.name, ackWait)
	case <-ctx.Done():
		closeAll([]*websocket.Conn{c})
		return nil, ctx.Err()
	}
	return w, nil
}

func addCounts(a, b frameCounts) frameCounts {
	return frameCounts{a.msgs + b.msgs, a.frames + b.frames, a.bytes + b.bytes, a.location + b.location,
		a.driver + b.driver, a.cells + b.cells, a.other + b.other}
}

// ackError is nil if msg holds the subscribe's ack, else the error it
// holds (a batch may carry the ack among other frames).
func ackError(msg []byte) error {
	var frames []json.RawMessage
	if len(msg) > 0 && msg[0] == '[' {
		if json.Unmarshal(msg, &frames) != nil {
			return fmt.Errorf("unreadable batch")
		}
	} else {
		frames = []json.RawMessage{msg}
	}
	for _, f := range frames {
		var fr struct{ Type, ID, Code, Message string }
		if json.Unmarshal(f, &fr) != nil || fr.ID != "sub-fleet" {
			continue
		}
		if fr.Type == "ack" {
			return nil
		}
		return fmt.Errorf("%s: %s: %s", fr.Type, fr.Code, fr.Message)
	}
	return fmt.Errorf("no ack in %q", msg)
}

// fleetRun is one measured run of one configuration.
type fleetRun struct {
	config, label        string
	every                time.Duration
	run                  int
	elapsed              time.Duration
	offered, accepted    float64 // fixes/s sent by the tool, accepted by the driver actors (all nodes)
	throttled, dropped   float64 // fixes/s the gateways throttled; stale + jump at the actors
	nodeCores, toolCores float64 // the nodes' together; the tool's with its driver processes
	rssMB                float64 // the nodes' together
	nodes                []nodeRun
	load1                float64
	watchers             []watcherRun
	driversCut           int64
}

// nodeRun is one node's share of a run.
type nodeRun struct {
	addr            string
	cores, rssMB    float64
	accepted, fixes float64 // fixes/s its driver actors accepted; its gateway passed
}

// watcherRun is one watcher's rates over a run's window.
type watcherRun struct {
	name                                 string
	msgs, frames, bytes, loc, drv, cells float64 // per second
	closed                               string  // how it ended during the run ("" if open)
}

// nodeWindow brackets a run on one node: its metrics and CPU time.
type nodeWindow struct {
	t    *target
	w    *window
	cpu0 float64
}

func beginNodes(ctx context.Context, nodes []*target) ([]nodeWindow, error) {
	out := make([]nodeWindow, len(nodes))
	for i, n := range nodes {
		w, err := n.begin(ctx)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.addr, err)
		}
		cpu, err := procCPU(n.pid)
		if err != nil {
			return nil, err
		}
		out[i] = nodeWindow{n, w, cpu}
	}
	return out, nil
}

// endNodes closes the windows and adds each node's figures to r.
func endNodes(ctx context.Context, ws []nodeWindow, r *fleetRun) error {
	for _, nw := range ws {
		cpu, err := procCPU(nw.t.pid)
		if err != nil {
			return err
		}
		if err := nw.w.end(ctx); err != nil {
			return fmt.Errorf("node %s: %w", nw.t.addr, err)
		}
		rss, err := procRSS(nw.t.pid)
		if err != nil {
			return err
		}
		fixes := func(o string) float64 { return nw.w.rate(series("outrider_driver_fixes_total", "outcome", o)) }
		n := nodeRun{addr: nw.t.addr, cores: (cpu - nw.cpu0) / nw.w.elapsed.Seconds(), rssMB: float64(rss) / 1024,
			accepted: fixes("accepted"), fixes: nw.w.rate(series("outrider_ws_location_frames_total", "outcome", "passed"))}
		r.nodes = append(r.nodes, n)
		r.nodeCores += n.cores
		r.rssMB += n.rssMB
		r.accepted += n.accepted
		r.throttled += nw.w.rate(series("outrider_ws_location_frames_total", "outcome", "throttled"))
		r.dropped += fixes("stale") + fixes("jump")
	}
	return nil
}

// measureFleet measures one run: the watchers of config on the first
// node, every node's figures, the drivers' fixes sent.
func measureFleet(ctx context.Context, nodes []*target, cfg fleetConfig, token string, drv fleetDrivers, config string, every time.Duration, run int) (fleetRun, error) {
	var ws []*watcher
	defer func() {
		for _, w := range ws {
			closeAll([]*websocket.Conn{w.conn})
		}
	}()
	for _, view := range []bool{true, false} {
		if (view && config == "fleet") || (!view && config == "viewport") {
			continue
		}
		w, err := openWatcher(ctx, nodes[0], cfg, token, view)
		if err != nil {
			return fleetRun{}, err
		}
		ws = append(ws, w)
	}
	if err := backoff.Sleep(ctx, cfg.settle); err != nil {
		return fleetRun{}, err
	}
	nws, err := beginNodes(ctx, nodes)
	if err != nil {
		return fleetRun{}, err
	}
	start, self0, p0 := time.Now(), cpuSeconds(), drv.progress()
	before := make([]frameCounts, len(ws))
	for i, w := range ws {
		before[i] = w.snapshot()
	}
	if err := backoff.Sleep(ctx, cfg.duration); err != nil {
		return fleetRun{}, err
	}
	after := make([]frameCounts, len(ws))
	for i, w := range ws {
		after[i] = w.snapshot()
	}
	secs, self1, p1 := time.Since(start).Seconds(), cpuSeconds(), drv.progress()
	r := fleetRun{config: config, every: every, run: run, elapsed: time.Duration(secs * float64(time.Second)),
		offered:   float64(p1.sent-p0.sent) / secs,
		toolCores: (self1 - self0 + p1.cpu - p0.cpu) / secs, load1: loadAvg1(), driversCut: p1.cut}
	if err := endNodes(ctx, nws, &r); err != nil {
		return fleetRun{}, err
	}
	for i, w := range ws {
		d := after[i].minus(before[i])
		wr := watcherRun{name: w.name, msgs: float64(d.msgs) / secs, frames: float64(d.frames) / secs,
			bytes: float64(d.bytes) / secs, loc: float64(d.location) / secs, drv: float64(d.driver) / secs, cells: float64(d.cells) / secs}
		if w.closed.Load() {
			err, _ := w.closeErr.Load().(error)
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				wr.closed = fmt.Sprintf("code %d %q", ce.Code, ce.Text)
			} else {
				wr.closed = fmt.Sprint(err)
			}
		}
		r.watchers = append(r.watchers, wr)
	}
	closeAll(func() []*websocket.Conn {
		cs := make([]*websocket.Conn, len(ws))
		for i, w := range ws {
			cs[i] = w.conn
		}
		return cs
	}())
	ws = nil
	if err := backoff.Sleep(ctx, cfg.gap); err != nil {
		return r, err
	}
	return r, nil
}

// loadAvg1 is the machine's one-minute load average (0 if unreadable).
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func (r fleetRun) print(out io.Writer) {
	rows := []row{
		{name: "fixes offered /s (sent by the tool)", value: commas(r.offered)},
		{name: "fixes accepted /s (driver actors)", value: commas(r.accepted)},
		{name: "fixes throttled /s (gateway), stale + jump /s (actors)", value: commas(r.throttled) + ", " + commas(r.dropped)},
		{name: "node CPU (cores of 2)", value: fmt.Sprintf("%.2f", r.nodeCores)},
		{name: "node RSS", value: fmt.Sprintf("%.0f MB", r.rssMB)},
		{name: "load tool CPU (cores of 2)", value: fmt.Sprintf("%.2f", r.toolCores)},
		{name: "load average (1 min)", value: fmt.Sprintf("%.2f", r.load1)},
	}
	if len(r.nodes) > 1 {
		rows[3].name, rows[4].name = "nodes' CPU together (cores of 2)", "nodes' RSS together"
		for i, n := range r.nodes {
			rows = append(rows, row{name: fmt.Sprintf("node %d (%s): cores, RSS, fixes passed /s (gateway), accepted /s (actors)", i+1, n.addr),
				value: fmt.Sprintf("%.2f, %.0f MB, %s, %s", n.cores, n.rssMB, commas(n.fixes), commas(n.accepted))})
		}
	}
	for _, w := range r.watchers {
		rows = append(rows,
			row{name: w.name + ": messages /s, frames /s", value: commas(w.msgs) + ", " + commas(w.frames)},
			row{name: w.name + ": bytes /s", value: commas(w.bytes)},
			row{name: w.name + ": location, driver, cells frames /s", value: commas(w.loc) + ", " + commas(w.drv) + ", " + fmt.Sprintf("%.2f", w.cells)},
			row{name: w.name + ": closed by the node", value: dash(w.closed)})
	}
	printTable(out, fmt.Sprintf("fleetview: %s, run %d, fixes every %s, %s window", r.config, r.run, r.every, r.elapsed.Round(time.Millisecond)), rows)
	var b strings.Builder
	fmt.Fprintf(&b, "RESULT scenario=fleetview label=%s config=%s run=%d every=%s offered_per_s=%.0f accepted_per_s=%.0f throttled_per_s=%.0f node_cores=%.2f node_rss_mb=%.0f tool_cores=%.2f load1=%.2f drivers_cut=%d",
		r.label, r.config, r.run, r.every, r.offered, r.accepted, r.throttled, r.nodeCores, r.rssMB, r.toolCores, r.load1, r.driversCut)
	if len(r.nodes) > 1 {
		for i, n := range r.nodes {
			fmt.Fprintf(&b, " node%d_cores=%.2f node%d_rss_mb=%.0f node%d_passed_per_s=%.0f node%d_accepted_per_s=%.0f", i+1, n.cores, i+1, n.rssMB, i+1, n.fixes, i+1, n.accepted)
		}
	}
	for _, w := range r.watchers {
		fmt.Fprintf(&b, " %s_msgs_per_s=%.1f %s_frames_per_s=%.1f %s_bytes_per_s=%.0f %s_location_per_s=%.1f %s_driver_per_s=%.1f %s_cells_per_s=%.2f %s_closed=%t",
			w.name, w.msgs, w.name, w.frames, w.name, w.bytes, w.name, w.loc, w.name, w.drv, w.name, w.cells, w.name, w.closed != "")
	}
	fmt.Fprintln(out, b.String())
}

// spread is the median and range of some runs' figure.
type spread struct{ median, lo, hi float64 }

func spreadOf(vals []float64) spread {
	if len(vals) == 0 {
		return spread{}
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{med, s[0], s[len(s)-1]}
}

func (s spread) format(f func(float64) string) string {
	if s.lo == s.hi {
		return f(s.median)
	}
	return f(s.median) + " (" + f(s.lo) + "–" + f(s.hi) + ")"
}

// printFleetSummary prints, per -every and configuration, the median and
// range over the runs of each figure.
func printFleetSummary(out io.Writer, cfg fleetConfig, runs []fleetRun) {
	cores := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	for _, every := range cfg.every {
		var rows []row
		for _, config := range cfg.configs {
			var sel []fleetRun
			for _, r := range runs {
				if r.every == every && r.config == config {
					sel = append(sel, r)
				}
			}
			if len(sel) == 0 {
				continue
			}
			pick := func(f func(fleetRun) float64) spread {
				v := make([]float64, len(sel))
				for i, r := range sel {
					v[i] = f(r)
				}
				return spreadOf(v)
			}
			rows = append(rows,
				row{name: config + ": fixes offered /s, accepted /s", value: pick(func(r fleetRun) float64 { return r.offered }).format(commas) + "; " + pick(func(r fleetRun) float64 { return r.accepted }).format(commas)},
				row{name: config + ": node cores, load tool cores", value: pick(func(r fleetRun) float64 { return r.nodeCores }).format(cores) + "; " + pick(func(r fleetRun) float64 { return r.toolCores }).format(cores)},
				row{name: config + ": node RSS MB, load average", value: pick(func(r fleetRun) float64 { return r.rssMB }).format(commas) + "; " + pick(func(r fleetRun) float64 { return r.load1 }).format(cores)})
			for ni := range sel[0].nodes {
				if len(sel[0].nodes) < 2 {
					break
				}
				rows = append(rows, row{name: fmt.Sprintf("%s: node %d cores, RSS MB, fixes accepted /s", config, ni+1),
					value: pick(func(r fleetRun) float64 { return r.nodes[ni].cores }).format(cores) + "; " + pick(func(r fleetRun) float64 { return r.nodes[ni].rssMB }).format(commas) + "; " + pick(func(r fleetRun) float64 { return r.nodes[ni].accepted }).format(commas)})
			}
			for wi, w := range sel[0].watchers {
				at := func(f func(watcherRun) float64) spread {
					return pick(func(r fleetRun) float64 { return f(r.watchers[wi]) })
				}
				closed := 0
				for _, r := range sel {
					if r.watchers[wi].closed != "" {
						closed++
					}
				}
				rows = append(rows,
					row{name: config + "/" + w.name + ": messages /s, frames /s", value: at(func(w watcherRun) float64 { return w.msgs }).format(commas) + "; " + at(func(w watcherRun) float64 { return w.frames }).format(commas)},
					row{name: config + "/" + w.name + ": bytes /s", value: at(func(w watcherRun) float64 { return w.bytes }).format(commas)},
					row{name: config + "/" + w.name + ": location, driver, cells /s", value: at(func(w watcherRun) float64 { return w.loc }).format(commas) + "; " + at(func(w watcherRun) float64 { return w.drv }).format(commas) + "; " + at(func(w watcherRun) float64 { return w.cells }).format(cores)},
					row{name: config + "/" + w.name + ": runs cut off by the node", value: fmt.Sprintf("%d of %d", closed, len(sel))})
			}
		}
		printTable(out, fmt.Sprintf("fleetview summary: %d drivers (about %d in the city) on %d node(s), fixes every %s, median (range) of %d runs", cfg.drivers, cityDrivers(cfg.drivers, cfg.cityShare), len(cfg.nodes), every, cfg.runs), rows)
	}
}

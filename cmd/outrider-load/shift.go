package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider/outrider/internal/backoff"
	"github.com/outrider/outrider/wire"
)

// shiftConfig is the flags of the shift scenario.
type shiftConfig struct {
	drivers, capacity, workers, driverHTTP, checkWorkers, concurrency int
	rate, decline, boxKM, lat, lng, stepM                             float64
	warmup, duration, drain, fixEvery, acceptMin, acceptMax, hold     time.Duration
	jsonPath                                                          string
	seed                                                              uint64
	cleanup                                                           bool
}

func parseShift(t *target, args []string) (shiftConfig, error) {
	fs := flag.NewFlagSet("shift", flag.ContinueOnError)
	var c shiftConfig
	fs.IntVar(&c.drivers, "drivers", 10_000, "available drivers, one socket each (load driver accounts are created once, then reused)")
	fs.IntVar(&c.capacity, "capacity", 1, "each driver's capacity during the shift (set before, put back to the fleet's after)")
	fs.Float64Var(&c.lat, "lat", 52.52, "centre of the city box (latitude)")
	fs.Float64Var(&c.lng, "lng", 13.405, "centre of the city box (longitude)")
	fs.Float64Var(&c.boxKM, "box-km", 20, "side of the city box (km): drivers and pickups are drawn uniformly inside it")
	fs.DurationVar(&c.fixEvery, "fix-every", time.Second, "each driver sends a location fix this often")
	fs.Float64Var(&c.stepM, "step-m", 8, "a driver moves at most this far (m, random direction) between two fixes")
	fs.DurationVar(&c.warmup, "warmup", 10*time.Second, "stream fixes this long before the first order")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "how long orders are placed")
	fs.Float64Var(&c.rate, "rate", 100, "auto-dispatched orders placed per second (open loop)")
	fs.IntVar(&c.workers, "workers", 64, "order placements in flight at most (a placement due while all are busy is skipped and counted)")
	fs.Float64Var(&c.decline, "decline", 0.2, "probability that a driver declines an offer (at once)")
	fs.DurationVar(&c.acceptMin, "accept-min", 500*time.Millisecond, "a driver who accepts does so after a delay drawn uniformly from [accept-min, accept-max]")
	fs.DurationVar(&c.acceptMax, "accept-max", 3*time.Second, "see accept-min")
	fs.DurationVar(&c.hold, "hold", 5*time.Second, "an accepted order is held this long, then moved picked_up, in_transit, delivered")
	fs.IntVar(&c.driverHTTP, "driver-http", 32, "drivers' status-change requests in flight at most")
	fs.DurationVar(&c.drain, "drain", 30*time.Second, "after the last order, drivers go on answering and delivering this long at most (less once every order is delivered)")
	fs.IntVar(&c.checkWorkers, "check-workers", 16, "GET /v1/orders/:id/dispatch in flight at most when the orders are checked at the end")
	fs.IntVar(&c.concurrency, "concurrency", 64, "sockets dialled at once")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the positions, moves and decisions")
	fs.BoolVar(&c.cleanup, "cleanup", true, "cancel (as admin) every order of the run not delivered at the end")
	fs.StringVar(&c.jsonPath, "json", "", "also write the figures as JSON to this file")
	if err := parseFlags(fs, t, args); err != nil {
		return c, err
	}
	return c, c.check()
}

func (c shiftConfig) check() error {
	var errs []error
	bad := func(cond bool, msg string) {
		if cond {
			errs = append(errs, errors.New(msg))
		}
	}
	bad(c.drivers < 1 || c.drivers > 15_000, "-drivers must be 1..15000")
	bad(c.capacity < 1 || c.capacity > 20, "-capacity must be 1..20")
	bad(c.lat < -80 || c.lat > 80 || c.lng < -180 || c.lng > 180, "-lat must be -80..80, -lng -180..180")
	bad(c.boxKM < 0.1 || c.boxKM > 100, "-box-km must be 0.1..100")
	bad(c.fixEvery < 200*time.Millisecond || c.fixEvery > 30*time.Second, "-fix-every must be 200ms..30s (the engine offers only drivers with a fix under a minute old)")
	bad(c.stepM < 0 || c.stepM > 50, "-step-m must be 0..50 (the driver actor drops jumps over 70 m/s)")
	bad(c.warmup < 0 || c.warmup > 2*time.Minute, "-warmup must be 0..2m")
	bad(c.duration <= 0 || c.duration > 10*time.Minute, "-duration must be 0..10m")
	bad(c.rate <= 0 || c.rate > 2_000, "-rate must be 0..2000")
	bad(c.workers < 1 || c.workers > 512, "-workers must be 1..512")
	bad(c.decline < 0 || c.decline > 1, "-decline must be 0..1")
	bad(c.acceptMin < 0 || c.acceptMax < c.acceptMin || c.acceptMax > time.Minute, "-accept-min ≤ -accept-max ≤ 1m")
	bad(c.hold < 0 || c.hold > 5*time.Minute, "-hold must be 0..5m")
	bad(c.driverHTTP < 1 || c.driverHTTP > 512, "-driver-http must be 1..512")
	bad(c.drain < 0 || c.drain > 5*time.Minute, "-drain must be 0..5m")
	bad(c.checkWorkers < 1 || c.checkWorkers > 128, "-check-workers must be 1..128")
	bad(c.concurrency < 1 || c.concurrency > 512, "-concurrency must be 1..512")
	return errors.Join(errs...)
}

// runShift simulates a dispatch shift: D available drivers stream fixes
// from a city box while auto-dispatched orders are placed at a fixed
// rate; the drivers decline or accept the engine's offers and deliver
// what they accept. It reports how fast and how often orders are offered
// and accepted, how many escalate, and the node's CPU and memory.
func runShift(ctx context.Context, t *target, args []string, out io.Writer) error {
	cfg, err := parseShift(t, args)
	if err != nil {
		return err
	}
	m, err := t.minter()
	if err != nil {
		return err
	}
	setup := t.api(32)
	_, admin, err := t.loginDemo(ctx, setup, "admin")
	if err != nil {
		return err
	}
	customer, _, err := t.loginDemo(ctx, setup, "customer")
	if err != nil {
		return err
	}
	ids, err := ensureDrivers(ctx, setup, admin, m, cfg.drivers, "")
	if err != nil {
		return err
	}
	restore, err := setShiftCapacity(ctx, setup, admin, ids, cfg.capacity)
	if err != nil {
		return err
	}
	defer restore()
	base, err := t.scrape(ctx)
	if err != nil {
		return err
	}

	drivers := make([]*simDriver, len(ids))
	tokens := make([]string, len(ids))
	for i, id := range ids {
		tokens[i] = m.token(id, "driver")
		drivers[i] = &simDriver{id: id, token: tokens[i], out: make(chan []byte, 8),
			rng: rand.New(rand.NewPCG(cfg.seed, uint64(i)))}
	}
	conns, err := t.dialAll(ctx, tokens, cfg.concurrency)
	if err != nil {
		return err
	}
	defer closeAll(conns)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	f := newFleet(runCtx, cfg, t.api(cfg.driverHTTP))
	var readers, writers sync.WaitGroup
	posRNG := rand.New(rand.NewPCG(cfg.seed, 0xb0c5))
	for i, d := range drivers {
		d.conn = conns[i]
		lat, lng := f.box.random(posRNG)
		readers.Add(1)
		go func() {
			defer readers.Done()
			err := readLoop(d.conn, func(msg []byte, at time.Time) { f.onFrame(d, msg, at) })
			f.ended.add(err)
			if runCtx.Err() == nil && f.closesLogged.Add(1) <= 5 {
				logf("driver %s's socket ended during the shift: %v", d.id, err)
			}
		}()
		writers.Add(1)
		go func() {
			defer writers.Done()
			f.write(runCtx, d, lat, lng, cfg.seed^uint64(i)<<20)
		}()
	}
	logf("%d drivers streaming a fix every %s; warming up %s", len(drivers), cfg.fixEvery, cfg.warmup)
	warm, err := t.begin(ctx)
	if err != nil {
		return err
	}
	if err := backoff.Sleep(ctx, cfg.warmup); err != nil {
		return err
	}
	if err := warm.end(ctx); err != nil {
		return err
	}
	warmAccepted := warm.rate(series("outrider_driver_fixes_total", "outcome", "accepted"))
	near := countNearby(ctx, setup, admin, cfg.lat, cfg.lng)
	logf("warm: node accepts %s fixes/s (%s offered); %s available drivers within 1 km of the centre",
		commas(warmAccepted), commas(float64(len(drivers))/cfg.fixEvery.Seconds()), near)
	if warmAccepted == 0 {
		return fmt.Errorf("no fixes accepted during the warm-up: the engine would offer nobody")
	}

	// The shift: orders at cfg.rate for cfg.duration, then the drain.
	p := newPlacer(t.api(cfg.workers), admin, customer.ID, f)
	w, err := t.begin(ctx)
	if err != nil {
		return err
	}
	logf("placing %s auto orders/s for %s", commas(cfg.rate), cfg.duration)
	sent0 := f.fixesSent.Load()
	p.run(runCtx, cfg)
	if err := w.end(ctx); err != nil {
		return err
	}
	fixesSent := float64(f.fixesSent.Load()-sent0) / w.elapsed.Seconds()
	logf("%s orders placed; draining (at most %s)", commas(float64(p.placed.Load())), cfg.drain)
	f.drain(ctx, cfg.drain)
	final, err := t.scrape(ctx)
	if err != nil {
		return err
	}
	stop()
	writers.Wait()
	closedByNode := f.ended.String()
	closeAll(conns)
	readers.Wait()
	f.deliveries.Wait()

	placed := f.placedOrders()
	logf("checking the dispatch of %d orders", len(placed))
	checks := checkDispatch(ctx, setup, admin, placed, cfg.checkWorkers)
	res := f.result(cfg, p, placed, checks, ids)
	res.node(base, warm, w, final)
	res.ClosedByNode, res.FixesSentPerS = closedByNode, fixesSent
	res.print(out, cfg, w)
	if cfg.jsonPath != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(cfg.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if cfg.cleanup {
		cancelUndelivered(ctx, setup, admin, placed, f)
	}
	return nil
}

// setShiftCapacity gives every driver of ids capacity c and returns the
// function that puts back what each one had (the fleet's other scenarios
// count on it).
func setShiftCapacity(ctx context.Context, a *api, admin string, ids []string, c int) (func(), error) {
	all, err := a.listLoadDrivers(ctx, admin)
	if err != nil {
		return nil, err
	}
	had := map[string]int{}
	for _, d := range all {
		had[d.ID] = d.Capacity
	}
	var change []string
	for _, id := range ids {
		if had[id] != c {
			change = append(change, id)
		}
	}
	set := func(ctx context.Context, ids []string, capacity func(id string) int) error {
		return parallel(ctx, len(ids), 16, func(ctx context.Context, i int) error {
			return a.call(ctx, http.MethodPatch, "/v1/drivers/"+ids[i], admin, map[string]int{"capacity": capacity(ids[i])}, nil)
		})
	}
	if len(change) > 0 {
		logf("setting %d drivers' capacity to %d", len(change), c)
		if err := set(ctx, change, func(string) int { return c }); err != nil {
			return nil, fmt.Errorf("set capacity: %w", err)
		}
	}
	return func() {
		if len(change) == 0 {
			return
		}
		logf("putting %d drivers' capacity back", len(change))
		// The run may have been interrupted: the capacity goes back anyway.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		if err := set(ctx, change, func(id string) int { return max(had[id], 1) }); err != nil {
			logf("could not put the capacity back: %v", err)
		}
	}, nil
}

// countNearby is how many available drivers with a fix GET
// /v1/drivers/nearby finds within 1 km of (lat, lng) ("≥ 100" at its limit).
func countNearby(ctx context.Context, a *api, admin string, lat, lng float64) string {
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	q := fmt.Sprintf("/v1/drivers/nearby?lat=%f&lng=%f&radius_m=1000&limit=100&available=true", lat, lng)
	if err := a.call(ctx, http.MethodGet, q, admin, nil, &page); err != nil {
		return "? (" + err.Error() + ")"
	}
	if len(page.Items) == 100 {
		return "≥ 100"
	}
	return fmt.Sprint(len(page.Items))
}

// drain waits until every order of the run is delivered, or max.
func (f *fleet) drain(ctx context.Context, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		if n := len(f.placedOrders()); n > 0 && int64(n) == f.deliveredPlaced() {
			return
		}
		if backoff.Sleep(ctx, 500*time.Millisecond) != nil {
			return
		}
	}
}

func (f *fleet) deliveredPlaced() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, r := range f.orders {
		if !r.placed.IsZero() && !r.delivered.IsZero() {
			n++
		}
	}
	return n
}

// placedOrders are the ids of the orders this run placed.
func (f *fleet) placedOrders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, r := range f.orders {
		if !r.placed.IsZero() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// placer places the shift's orders.
type placer struct {
	a               *api
	admin, customer string
	f               *fleet

	placed, failed, skipped atomic.Int64
	errs                    tally
	rtt                     sampleSet
}

func newPlacer(a *api, admin, customer string, f *fleet) *placer {
	return &placer{a: a, admin: admin, customer: customer, f: f}
}

// run offers cfg.rate placements per second for cfg.duration to
// cfg.workers goroutines, open loop: a placement due while every worker
// is busy is skipped (and counted), not queued behind the others.
func (p *placer) run(ctx context.Context, cfg shiftConfig) {
	window, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for i := range cfg.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.seed, 0x0dde<<16|uint64(i)))
			for range jobs {
				p.placeOne(ctx, rng)
			}
		}()
	}
	pace := pacer{rate: cfg.rate}
	for pace.wait(window) == nil {
		select {
		case jobs <- struct{}{}:
		default:
			p.skipped.Add(1)
		}
	}
	close(jobs)
	wg.Wait()
}

// placeOne places one auto order with its pickup and dropoff drawn from
// the box, and records when it was placed (just before the POST).
func (p *placer) placeOne(ctx context.Context, rng *rand.Rand) {
	plat, plng := p.f.box.random(rng)
	dlat, dlng := p.f.box.random(rng)
	start := time.Now()
	// ctx is the run's, not the placing window's: a request cut off at
	// the window's end would count as a failure the node did not make.
	o, err := p.a.placeOrder(ctx, p.admin, p.customer,
		place{"Shift pickup", plat, plng}, place{"Shift dropoff", dlat, dlng}, "auto")
	if err != nil {
		p.failed.Add(1)
		p.errs.count(errKey(err))
		return
	}
	p.rtt.add(time.Since(start))
	p.placed.Add(1)
	p.f.update(o.ID, func(r *orderRec) { r.placed = start })
}

// checkDispatch reads GET /v1/orders/:id/dispatch of every order, at
// most workers at once; a failed read leaves its entry nil.
func checkDispatch(ctx context.Context, a *api, admin string, ids []string, workers int) []*wire.Dispatch {
	out := make([]*wire.Dispatch, len(ids))
	_ = parallel(ctx, len(ids), workers, func(ctx context.Context, i int) error {
		var d wire.Dispatch
		if a.call(ctx, http.MethodGet, "/v1/orders/"+ids[i]+"/dispatch", admin, nil, &d) == nil {
			out[i] = &d
		}
		return nil
	})
	return out
}

// cancelUndelivered cancels, as admin, every order of the run that the
// drivers did not deliver, so that nothing of it holds a driver or keeps
// a dispatch run going after the tool has gone.
func cancelUndelivered(ctx context.Context, a *api, admin string, ids []string, f *fleet) {
	var todo []string
	f.mu.Lock()
	for _, id := range ids {
		if f.orders[id].delivered.IsZero() {
			todo = append(todo, id)
		}
	}
	f.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	var failed atomic.Int64
	_ = parallel(ctx, len(todo), 16, func(ctx context.Context, i int) error {
		err := a.call(ctx, http.MethodPut, "/v1/orders/"+todo[i]+"/status", admin,
			map[string]string{"status": "cancelled", "reason": "outrider-load shift: cleanup"}, nil)
		if err != nil {
			failed.Add(1)
		}
		return nil
	})
	logf("cleanup: %d undelivered orders cancelled, %d could not be", len(todo)-int(failed.Load()), failed.Load())
}

// durJSON is a latency summary in milliseconds.
type durJSON struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func (s summary) json() durJSON {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return durJSON{N: s.n, P50: ms(s.p50), P90: ms(s.p90), P99: ms(s.p99), Max: ms(s.max)}
}

// shiftSlice is the part of the shift that a sliceJSON covers.
const shiftSlice = 10 * time.Second

// sliceJSON is the orders placed in one shiftSlice of the shift, from
// FromS seconds after the first: how soon they were offered shows a
// backlog building up.
type sliceJSON struct {
	FromS        int     `json:"from_s"`
	Placed       int     `json:"placed"`
	OfferedP50   float64 `json:"placed_to_offered_p50_ms"` // of those offered
	OfferedMax   float64 `json:"placed_to_offered_max_ms"`
	NeverOffered int     `json:"never_offered"`
}

// shiftResult is what a shift measured; -json writes it.
type shiftResult struct {
	Drivers         int            `json:"drivers"`
	RatePerS        float64        `json:"rate_per_s"`
	WindowS         float64        `json:"window_s"`
	OrdersPlaced    int64          `json:"orders_placed"`
	OrdersFailed    int64          `json:"orders_failed"`
	OrdersSkipped   int64          `json:"orders_skipped"`
	PlaceErrors     map[string]int `json:"place_errors,omitempty"`
	PlaceRTT        durJSON        `json:"place_rtt"`
	PlacedToOffered durJSON        `json:"placed_to_offered"`
	// PlacedToCommitted runs to the first attempt's offered_at (the
	// node's clock, the same machine's): the engine's part of
	// PlacedToOffered, without the outbox and the socket.
	PlacedToCommitted durJSON `json:"placed_to_offer_committed"`
	PlacedToAccepted  durJSON `json:"placed_to_accepted"`
	// Slices: placed → job.offered by when in the shift the order came.
	Slices        []sliceJSON    `json:"slices"`
	OffersMean    float64        `json:"offers_per_order_mean"`
	OffersMax     int            `json:"offers_per_order_max"`
	OffersForeign int            `json:"offers_of_other_orders"`
	Declines      int64          `json:"declines"`
	DeclinesAcked int64          `json:"declines_acked"`
	Accepts       int64          `json:"accepts"`
	AcceptsAcked  int64          `json:"accepts_acked"`
	Refused       map[string]int `json:"answers_refused,omitempty"`
	Withdrawn     map[string]int `json:"withdrawn,omitempty"`
	Delivered     int64          `json:"delivered"`
	StatusErrors  map[string]int `json:"status_errors,omitempty"`
	NeverOffered  int            `json:"never_offered"`
	// From GET /v1/orders/:id/dispatch at the end.
	Checked           int            `json:"dispatch_checked"`
	States            map[string]int `json:"dispatch_states"`
	Escalated         int            `json:"escalated"`
	EscalationReasons map[string]int `json:"escalation_reasons,omitempty"`
	AttemptsMean      float64        `json:"attempts_per_order_mean"`
	AttemptsMax       int            `json:"attempts_per_order_max"`
	NoAttempt         int            `json:"orders_without_attempt"`
	OffersOutside     int            `json:"offers_to_drivers_outside_the_run"`
	// The tool's sockets.
	FixesSentPerS float64 `json:"fixes_sent_per_s"`
	WriteErrors   int64   `json:"socket_write_errors"`
	BadFrames     int64   `json:"bad_frames"`
	ClosedByNode  string  `json:"sockets_closed_by_node"`
	// The node, from /metrics.
	FixesAcceptedPerS float64            `json:"node_fixes_accepted_per_s"`
	FixesOther        map[string]float64 `json:"node_fixes_other"`
	Rounds            map[string]float64 `json:"node_dispatch_rounds"`
	RoundMeanMs       float64            `json:"node_dispatch_round_mean_ms"`
	DeadlineLateMs    float64            `json:"node_deadline_lateness_mean_ms"`
	Deadlines         map[string]float64 `json:"node_deadlines_fired"`
	NodeCPUCores      float64            `json:"node_cpu_cores"`
	ToolCPUCores      float64            `json:"tool_cpu_cores"`
	RSSBeforeMB       float64            `json:"node_rss_before_sockets_mb"`
	RSSWarmMB         float64            `json:"node_rss_warm_mb"`
	RSSEndMB          float64            `json:"node_rss_end_mb"`
}

// result gathers the tool's side of the figures.
func (f *fleet) result(cfg shiftConfig, p *placer, placed []string, checks []*wire.Dispatch, fleetIDs []string) *shiftResult {
	r := &shiftResult{Drivers: cfg.drivers, RatePerS: cfg.rate,
		OrdersPlaced: p.placed.Load(), OrdersFailed: p.failed.Load(), OrdersSkipped: p.skipped.Load(),
		PlaceErrors: p.errs.counts(), PlaceRTT: summarize(p.rtt.take()).json(),
		Declines: f.declines.Load(), DeclinesAcked: f.declinesAcked.Load(),
		Accepts: f.accepts.Load(), AcceptsAcked: f.acceptsAcked.Load(),
		Refused: f.refused.counts(), Withdrawn: f.withdrawn.counts(), Delivered: f.delivered.Load(),
		StatusErrors: f.statusErrs.counts(), WriteErrors: f.writeErrors.Load(), BadFrames: f.badFrames.Load()}
	var toOffer, toAccept []time.Duration
	offers := 0
	f.mu.Lock()
	var origin time.Time
	for _, id := range placed {
		if o := f.orders[id]; origin.IsZero() || o.placed.Before(origin) {
			origin = o.placed
		}
	}
	bySlice := map[int]*sliceJSON{}
	sliceOffers := map[int][]time.Duration{}
	for _, id := range placed {
		o := f.orders[id]
		k := int(o.placed.Sub(origin) / shiftSlice)
		sl := bySlice[k]
		if sl == nil {
			sl = &sliceJSON{FromS: k * int(shiftSlice/time.Second)}
			bySlice[k] = sl
		}
		sl.Placed++
		if o.firstOffer.IsZero() {
			sl.NeverOffered++
		} else {
			sliceOffers[k] = append(sliceOffers[k], o.firstOffer.Sub(o.placed))
		}
		offers += o.offers
		r.OffersMax = max(r.OffersMax, o.offers)
		if o.firstOffer.IsZero() {
			r.NeverOffered++
		} else {
			toOffer = append(toOffer, o.firstOffer.Sub(o.placed))
		}
		if !o.accepted.IsZero() {
			toAccept = append(toAccept, o.accepted.Sub(o.placed))
		}
	}
	for _, o := range f.orders {
		if o.placed.IsZero() {
			r.OffersForeign += o.offers
		}
	}
	f.mu.Unlock()
	if len(placed) > 0 {
		r.OffersMean = float64(offers) / float64(len(placed))
	}
	r.PlacedToOffered, r.PlacedToAccepted = summarize(toOffer).json(), summarize(toAccept).json()
	for _, k := range slices.Sorted(maps.Keys(bySlice)) {
		sl, sum := bySlice[k], summarize(sliceOffers[k]).json()
		sl.OfferedP50, sl.OfferedMax = sum.P50, sum.Max
		r.Slices = append(r.Slices, *sl)
	}

	var states, reasons tally
	attempts := 0
	ours := make(map[string]bool, len(fleetIDs))
	for _, id := range fleetIDs {
		ours[id] = true
	}
	var committed []time.Duration
	for i, d := range checks {
		if d == nil {
			continue
		}
		if len(d.Attempts) > 0 {
			if at, err := wire.ParseTimestamp(d.Attempts[0].OfferedAt); err == nil {
				f.mu.Lock()
				committed = append(committed, at.Sub(f.orders[placed[i]].placed))
				f.mu.Unlock()
			}
		}
		for _, a := range d.Attempts {
			if !ours[a.DriverID] {
				r.OffersOutside++
			}
		}
		r.Checked++
		states.count(d.State)
		if d.State == "failed" {
			r.Escalated++
			reasons.count(dash(d.EscalationReason))
		}
		attempts += len(d.Attempts)
		r.AttemptsMax = max(r.AttemptsMax, len(d.Attempts))
		if len(d.Attempts) == 0 {
			r.NoAttempt++
		}
	}
	r.States, r.EscalationReasons = states.counts(), reasons.counts()
	r.PlacedToCommitted = summarize(committed).json()
	if r.Checked > 0 {
		r.AttemptsMean = float64(attempts) / float64(r.Checked)
	}
	return r
}

// node fills in the node's figures: warm is the warm-up, w the placing
// window, final a scrape after the drain (the dispatch counters run
// from w's start to it).
func (r *shiftResult) node(base metrics, warm, w *window, final metrics) {
	r.WindowS = w.elapsed.Seconds()
	r.FixesAcceptedPerS = w.rate(series("outrider_driver_fixes_total", "outcome", "accepted"))
	r.FixesOther = map[string]float64{}
	for _, o := range []string{"stale", "jump", "unknown_driver"} {
		r.FixesOther[o] = delta(w.before, w.after, series("outrider_driver_fixes_total", "outcome", o))
	}
	for _, o := range []string{"throttled", "refused"} {
		r.FixesOther["gateway "+o] = delta(w.before, w.after, series("outrider_ws_location_frames_total", "outcome", o))
	}
	r.Rounds = map[string]float64{}
	for _, res := range []string{"offered", "empty", "escalated", "settled"} {
		r.Rounds[res] = delta(w.before, final, series("outrider_dispatch_rounds_total", "result", res))
	}
	if n := delta(w.before, final, "outrider_dispatch_round_seconds_count"); n > 0 {
		r.RoundMeanMs = delta(w.before, final, "outrider_dispatch_round_seconds_sum") / n * 1000
	}
	if n := delta(w.before, final, "outrider_deadline_lateness_seconds_count"); n > 0 {
		r.DeadlineLateMs = delta(w.before, final, "outrider_deadline_lateness_seconds_sum") / n * 1000
	}
	r.Deadlines = map[string]float64{}
	for _, res := range []string{"settled", "postponed", "failed"} {
		r.Deadlines[res] = delta(w.before, final, series("outrider_deadlines_fired_total", "result", res))
	}
	r.NodeCPUCores, r.ToolCPUCores = w.serverCores(), w.clientCores()
	const mb = 1 << 20
	rss := "process_resident_memory_bytes"
	r.RSSBeforeMB, r.RSSWarmMB, r.RSSEndMB = base[rss]/mb, warm.after[rss]/mb, w.after[rss]/mb
}

func (d durJSON) String() string {
	return fmt.Sprintf("p50 %.1f, p90 %.1f, p99 %.1f, max %.1f ms (n=%s)", d.P50, d.P90, d.P99, d.Max, commas(float64(d.N)))
}

func (r *shiftResult) print(out io.Writer, cfg shiftConfig, w *window) {
	counts := countsString
	floats := func(m map[string]float64, keys ...string) string {
		s := ""
		for i, k := range keys {
			if i > 0 {
				s += ", "
			}
			s += k + " " + commas(m[k])
		}
		return s
	}
	rows := []row{
		{name: "orders placed / failed / skipped (workers busy)", value: fmt.Sprintf("%s / %s / %s",
			commas(float64(r.OrdersPlaced)), commas(float64(r.OrdersFailed)), commas(float64(r.OrdersSkipped))),
			aim: commas(cfg.rate*cfg.duration.Seconds()) + " offered"},
		{name: "placement errors", value: counts(r.PlaceErrors)},
		{name: "placement HTTP round trip", value: r.PlaceRTT.String()},
		{name: "placed → job.offered (first driver)", value: r.PlacedToOffered.String()},
		{name: "placed → first offer committed (offered_at)", value: r.PlacedToCommitted.String()},
		{name: "placed → job.offered p50 by 10 s of placing", value: r.slicesString(), aim: "- : none offered"},
		{name: "placed → accepted (ack)", value: r.PlacedToAccepted.String(),
			aim: fmt.Sprintf("includes the %s–%s accept delay", cfg.acceptMin, cfg.acceptMax)},
		{name: "offers per order: mean, max", value: fmt.Sprintf("%.2f, %d", r.OffersMean, r.OffersMax)},
		{name: "declines sent / acked", value: fmt.Sprintf("%s / %s", commas(float64(r.Declines)), commas(float64(r.DeclinesAcked)))},
		{name: "accepts sent / acked", value: fmt.Sprintf("%s / %s", commas(float64(r.Accepts)), commas(float64(r.AcceptsAcked)))},
		{name: "answers refused", value: counts(r.Refused)},
		{name: "offers withdrawn", value: counts(r.Withdrawn)},
		{name: "orders delivered", value: commas(float64(r.Delivered))},
		{name: "status changes failed", value: counts(r.StatusErrors)},
		{name: "orders never offered (by the tool's sockets)", value: commas(float64(r.NeverOffered))},
		{name: "offers of orders not of this run", value: commas(float64(r.OffersForeign))},
		{name: "dispatch checked: states", value: fmt.Sprintf("%d: %s", r.Checked, counts(r.States))},
		{name: "orders escalated (state failed), by reason", value: counts(r.EscalationReasons)},
		{name: "attempts per order (node): mean, max, none", value: fmt.Sprintf("%.2f, %d, %d", r.AttemptsMean, r.AttemptsMax, r.NoAttempt)},
		{name: "offers to drivers without a socket in this run", value: commas(float64(r.OffersOutside)),
			aim: "0 (else: a fix of theirs < 1 min old)"},
		{name: "dispatch rounds (to the end of the drain)", value: floats(r.Rounds, "offered", "empty", "escalated", "settled")},
		{name: "dispatch round mean; deadline lateness mean", value: fmt.Sprintf("%.1f ms; %.1f ms", r.RoundMeanMs, r.DeadlineLateMs)},
		{name: "deadlines fired", value: floats(r.Deadlines, "settled", "postponed", "failed")},
		{name: "fixes sent by the tool /s", value: commas(r.FixesSentPerS)},
		{name: "fixes accepted by the node /s", value: commas(r.FixesAcceptedPerS)},
		{name: "fixes not accepted (window)", value: floats(r.FixesOther, "stale", "jump", "unknown_driver", "gateway throttled", "gateway refused")},
		{name: "socket write errors; sockets closed by the node", value: fmt.Sprintf("%d; %s", r.WriteErrors, r.ClosedByNode)},
		{name: "node RSS before sockets / warm / end of orders", value: fmt.Sprintf("%.0f / %.0f / %.0f MB", r.RSSBeforeMB, r.RSSWarmMB, r.RSSEndMB)},
	}
	printTable(out, fmt.Sprintf("shift: %s drivers (capacity %d), %s auto orders/s offered, %s window, decline %.0f %%",
		commas(float64(r.Drivers)), cfg.capacity, commas(cfg.rate), w.elapsed.Round(time.Millisecond), cfg.decline*100),
		append(rows, w.cpuRows()...))
}

// slicesString is the p50 of placed → job.offered of each slice, in
// milliseconds, "-" for a slice none of whose orders was offered:
// "8.5 11.6 2500.0 - … ms".
func (r *shiftResult) slicesString() string {
	parts := make([]string, len(r.Slices))
	for i, sl := range r.Slices {
		parts[i] = "-"
		if sl.NeverOffered < sl.Placed {
			parts[i] = fmt.Sprintf("%.1f", sl.OfferedP50)
		}
	}
	return strings.Join(parts, " ") + " ms"
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider/outrider/internal/backoff"
)

// runLatency spreads K watchers over M orders and changes the orders at a
// fixed total rate through the HTTP API (assign as admin, decline as the
// driver: each change is one committed event), then reports the time
// from the event's `at` to its arrival at each watcher.
func runLatency(ctx context.Context, t *target, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	watchers := fs.Int("watchers", 5_000, "watcher sockets, spread evenly over the orders")
	orders := fs.Int("orders", 500, "orders changed in turn (each with its own load driver)")
	rate := fs.Float64("rate", 1_000, "order changes/s offered, in total")
	workers := fs.Int("workers", 64, "HTTP requests in flight at most")
	warmup := fs.Duration("warmup", 3*time.Second, "change orders this long before measuring")
	duration := fs.Duration("duration", 20*time.Second, "measurement window")
	concurrency := fs.Int("concurrency", 64, "sockets dialled and subscribed at once")
	aim := fs.Duration("aim-p99", 50*time.Millisecond, "aim: p99 commit → frame")
	if err := parseFlags(fs, t, args); err != nil {
		return err
	}
	if *watchers < 1 || *watchers > 15_000 || *orders < 1 || *orders > 5_000 || *rate <= 0 || *rate > 20_000 ||
		*workers < 1 || *duration > 2*time.Minute || *warmup > time.Minute {
		return fmt.Errorf("-watchers 1..15000, -orders 1..5000, -rate 0..20000, -workers ≥ 1, -duration ≤ 2m, -warmup ≤ 1m")
	}
	m, err := t.minter()
	if err != nil {
		return err
	}
	a := t.api(*workers)
	adminUser, admin, err := t.loginDemo(ctx, a, "admin")
	if err != nil {
		return err
	}
	customer, _, err := t.loginDemo(ctx, a, "customer")
	if err != nil {
		return err
	}
	drivers, err := ensureDrivers(ctx, a, admin, m, *orders, "")
	if err != nil {
		return err
	}
	st := &changer{a: a, admin: admin, orders: make([]orderSlot, *orders)}
	if err := parallel(ctx, *orders, 16, func(ctx context.Context, i int) error {
		o, err := a.createOrder(ctx, admin, customer.ID)
		st.orders[i] = orderSlot{id: o.ID, driver: drivers[i], driverToken: m.token(drivers[i], "driver"), status: o.Status}
		return err
	}); err != nil {
		return fmt.Errorf("create orders: %w", err)
	}
	logf("%d orders created", *orders)

	tokens := make([]string, *watchers)
	for i := range tokens {
		tokens[i] = m.token(adminUser.ID, "admin")
	}
	conns, err := t.dialAll(ctx, tokens, *concurrency)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	if err := parallel(ctx, len(conns), *concurrency, func(_ context.Context, i int) error {
		return subscribe(conns[i], "order:"+st.orders[i%*orders].id, 15*time.Second)
	}); err != nil {
		return err
	}
	logf("%d watchers subscribed over %d orders", len(conns), *orders)

	var measuring atomic.Bool
	var ended closeTally
	samples := make([]sampleSet, len(conns))
	for i, c := range conns {
		go func() {
			ended.add(readLoop(c, func(msg []byte, now time.Time) {
				if !measuring.Load() || !bytes.Contains(msg, []byte(`"type":"event"`)) {
					return
				}
				if at, ok := eventAt(msg); ok {
					samples[i].add(now.Sub(at))
				}
			}))
		}()
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() { defer close(done); st.drive(runCtx, *rate, *workers, &measuring) }()
	logf("changing orders at %s/s; warming up %s", commas(*rate), *warmup)
	if err := backoff.Sleep(ctx, *warmup); err != nil {
		return err
	}
	w, err := t.begin(ctx)
	if err != nil {
		return err
	}
	measuring.Store(true)
	if err := backoff.Sleep(ctx, *duration); err != nil {
		return err
	}
	measuring.Store(false)
	if err := w.end(ctx); err != nil {
		return err
	}
	stop()
	<-done

	var all []time.Duration
	for i := range samples {
		all = append(all, samples[i].take()...)
	}
	lat := summarize(all)
	httpLat := summarize(st.httpTimes.take())
	ok := st.ok.Load()
	perOrder := float64(len(conns)) / float64(*orders)
	rows := []row{
		{name: "order changes committed /s", value: commas(float64(ok) / w.elapsed.Seconds()), aim: commas(*rate) + " offered"},
		{name: "changes rejected / failed", value: commas(float64(st.rejected.Load())) + " / " + commas(float64(st.failed.Load()))},
		{name: "changes not offered (order still busy)", value: commas(float64(st.busy.Load()))},
		{name: "HTTP change round trip", value: httpLat.String()},
		{name: "event frames at watchers /s", value: commas(float64(lat.n) / w.elapsed.Seconds()),
			aim: fmt.Sprintf("≈ %s (%.0f watchers per order)", commas(float64(ok)*perOrder/w.elapsed.Seconds()), perOrder)},
		{name: "commit → frame", value: lat.String(), aim: fmt.Sprintf("p99 < %s", *aim),
			verdict: verdict(lat.n > 0 && lat.p99 < *aim)},
		{name: "outbox publication lag", value: publicationLag(w)},
		{name: "watcher sockets closed by the node", value: ended.String()},
	}
	printTable(out, fmt.Sprintf("latency: %d watchers over %d orders, %s changes/s offered, %s window",
		len(conns), *orders, commas(*rate), w.elapsed.Round(time.Millisecond)), append(rows, w.cpuRows()...))
	return nil
}

// publicationLag reads the relay's lag histogram over the window, if the
// node exports one under the name used below.
func publicationLag(w *window) string {
	const h = "outrider_outbox_publish_lag_seconds"
	n := delta(w.before, w.after, h+"_count")
	if n == 0 {
		return "(not exported)"
	}
	return fmt.Sprintf("mean %.1f ms", delta(w.before, w.after, h+"_sum")/n*1000)
}

// sampleSet is one watcher's latencies (its reader appends, the report
// takes them).
type sampleSet struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sampleSet) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (s *sampleSet) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	s.d = nil
	return d
}

// orderSlot is one order the changer toggles between pending and assigned.
type orderSlot struct {
	id, driver, driverToken string
	busy                    atomic.Bool
	status                  string // guarded by busy
}

// changer drives order changes at a fixed rate.
type changer struct {
	a      *api
	admin  string
	orders []orderSlot

	ok, rejected, failed, busy atomic.Int64
	httpTimes                  sampleSet
}

// drive offers `rate` changes per second, round-robin over the orders, to
// `workers` goroutines; an order whose previous change is still in flight
// is skipped (and counted) rather than queued behind it.
func (c *changer) drive(ctx context.Context, rate float64, workers int, measuring *atomic.Bool) {
	jobs := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c.change(ctx, i, measuring.Load())
			}
		}()
	}
	p := pacer{rate: rate}
	next := 0
	for p.wait(ctx) == nil {
		picked := -1
		for range len(c.orders) {
			i := next
			next = (next + 1) % len(c.orders)
			if c.orders[i].busy.CompareAndSwap(false, true) {
				picked = i
				break
			}
		}
		if picked < 0 {
			c.busy.Add(1)
			continue
		}
		select {
		case jobs <- picked:
		case <-ctx.Done():
			c.orders[picked].busy.Store(false)
		}
	}
	close(jobs)
	wg.Wait()
}

// change assigns a pending order to its driver or has the driver decline
// an assigned one; a rejection means the tool's view was stale, so it
// takes the status from a fresh read.
func (c *changer) change(ctx context.Context, i int, count bool) {
	o := &c.orders[i]
	defer o.busy.Store(false)
	start := time.Now()
	var got orderJSON
	var err error
	if o.status == "assigned" {
		got, err = c.a.decline(ctx, o.driverToken, o.id)
	} else {
		got, err = c.a.assign(ctx, c.admin, o.id, o.driver)
	}
	if ctx.Err() != nil {
		return
	}
	var apiErr *apiError
	switch {
	case err == nil:
		o.status = got.Status
		if count {
			c.ok.Add(1)
			c.httpTimes.add(time.Since(start))
		}
	case errors.As(err, &apiErr) && apiErr.Status < 500 && apiErr.Status != http.StatusTooManyRequests:
		c.rejected.Add(1)
		var fresh orderJSON
		if c.a.call(ctx, http.MethodGet, "/v1/orders/"+o.id, c.admin, nil, &fresh) == nil {
			o.status = fresh.Status
		}
	default:
		c.failed.Add(1)
	}
}

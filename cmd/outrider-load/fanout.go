package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/internal/backoff"
)

// runFanout subscribes W admin sockets to one order's channel while the
// order's driver streams fixes; every accepted fix becomes one location
// frame per watcher. It reports frames/s counted at the watchers.
func runFanout(ctx context.Context, t *target, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	watchers := fs.Int("watchers", 1_000, "sockets watching the one order")
	fixRate := fs.Float64("fix-rate", 1_000, "fixes/s the driver sends (timestamps step ≥ 1 ms, so above 1,000/s they run ahead of the clock)")
	warmup := fs.Duration("warmup", 3*time.Second, "stream this long before counting")
	duration := fs.Duration("duration", 15*time.Second, "counting window")
	concurrency := fs.Int("concurrency", 64, "sockets dialled at once")
	aim := fs.Float64("aim", 400_000, "aim: frames/s delivered to the watchers")
	if err := parseFlags(fs, t, args); err != nil {
		return err
	}
	if *watchers < 1 || *watchers > 15_000 || *fixRate <= 0 || *fixRate > 5_000 || *duration > 2*time.Minute || *warmup > time.Minute {
		return fmt.Errorf("-watchers must be 1..15000, -fix-rate 0..5000, -duration ≤ 2m, -warmup ≤ 1m")
	}
	m, err := t.minter()
	if err != nil {
		return err
	}
	orderID, driverID, err := t.fanoutOrder(ctx, m)
	if err != nil {
		return err
	}
	logf("order %s assigned to driver %s", orderID, driverID)

	// Watchers are sessions of the demo admin: sessions register with
	// their user's actor, so the user must exist.
	admin, _, err := t.loginDemo(ctx, t.api(2), "admin")
	if err != nil {
		return err
	}
	tokens := make([]string, *watchers)
	for i := range tokens {
		tokens[i] = m.token(admin.ID, "admin")
	}
	conns, err := t.dialAll(ctx, tokens, *concurrency)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	if err := parallel(ctx, len(conns), *concurrency, func(_ context.Context, i int) error {
		return subscribe(conns[i], "order:"+orderID, 15*time.Second)
	}); err != nil {
		return err
	}
	logf("%d watchers subscribed to order:%s", len(conns), orderID)
	var ended closeTally
	counts := make([]atomic.Int64, len(conns))
	for i, c := range conns {
		go func() {
			ended.add(readLoop(c, func(msg []byte, _ time.Time) {
				if bytes.Contains(msg, []byte(`"type":"location"`)) {
					counts[i].Add(1)
				}
			}))
		}()
	}
	drv, err := t.dial(ctx, m.token(driverID, "driver"))
	if err != nil {
		return err
	}
	defer closeAll([]*websocket.Conn{drv})
	go func() { _ = readLoop(drv, func([]byte, time.Time) {}) }()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var sent atomic.Int64
	go streamFixes(runCtx, drv, 0, *fixRate, &sent)

	if err := backoff.Sleep(ctx, *warmup); err != nil {
		return err
	}
	total := func() (n int64) {
		for i := range counts {
			n += counts[i].Load()
		}
		return n
	}
	w, err := t.begin(ctx)
	if err != nil {
		return err
	}
	got0, sent0 := total(), sent.Load()
	if err := backoff.Sleep(ctx, *duration); err != nil {
		return err
	}
	got, sentN := total()-got0, sent.Load()-sent0
	if err := w.end(ctx); err != nil {
		return err
	}
	stop()

	delivered := float64(got) / w.elapsed.Seconds()
	accepted := w.rate(series("outrider_driver_fixes_total", "outcome", "accepted"))
	rows := []row{
		{name: "fixes sent by the driver /s", value: commas(float64(sentN) / w.elapsed.Seconds())},
		{name: "fixes accepted by the driver actor /s", value: commas(accepted)},
		{name: "frames delivered to watchers /s (client count)", value: commas(delivered), aim: "≥ " + commas(*aim), verdict: verdict(delivered >= *aim)},
		{name: "frames per accepted fix per watcher", value: fmt.Sprintf("%.3f", delivered/max(accepted, 1)/float64(len(conns)))},
		{name: "node frames out /s (outrider_ws_frames_total)", value: commas(w.rate(series("outrider_ws_frames_total", "direction", "out")))},
		{name: "slow consumers cut off (4008)", value: commas(delta(w.before, w.after, "outrider_ws_slow_consumers_total"))},
		{name: "watcher sockets closed by the node", value: ended.String()},
	}
	printTable(out, fmt.Sprintf("fanout: %d watchers of one order, driver at %s fixes/s, %s window",
		len(conns), commas(*fixRate), w.elapsed.Round(time.Millisecond)), append(rows, w.cpuRows()...))
	return nil
}

// fanoutOrder creates a fresh driver (available, capacity 1) and an order
// of the demo customer assigned to it: an assigned order shows its
// driver's live positions to its watchers.
func (t *target) fanoutOrder(ctx context.Context, m *minter) (orderID, driverID string, err error) {
	a := t.api(4)
	_, admin, err := t.loginDemo(ctx, a, "admin")
	if err != nil {
		return "", "", err
	}
	customer, _, err := t.loginDemo(ctx, a, "customer")
	if err != nil {
		return "", "", err
	}
	var d userJSON
	email := fmt.Sprintf("load-fanout-%d@load.outrider", time.Now().UnixNano())
	if err := a.call(ctx, http.MethodPost, "/v1/users", admin, map[string]any{"name": "Fanout Driver",
		"email": email, "password": "load-driver-password", "role": "driver"}, &d); err != nil {
		return "", "", fmt.Errorf("create driver: %w", err)
	}
	if err := a.call(ctx, http.MethodPut, "/v1/drivers/me/availability", m.token(d.ID, "driver"),
		map[string]bool{"available": true}, nil); err != nil {
		return "", "", fmt.Errorf("driver availability: %w", err)
	}
	o, err := a.createOrder(ctx, admin, customer.ID)
	if err != nil {
		return "", "", fmt.Errorf("create order: %w", err)
	}
	if _, err := a.assign(ctx, admin, o.ID, d.ID); err != nil {
		return "", "", fmt.Errorf("assign order: %w", err)
	}
	return o.ID, d.ID, nil
}

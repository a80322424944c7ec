package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/internal/backoff"
)

// runIngest has D real drivers, one socket each, send location frames as
// fast as they may, and reports what the node accepted (its own counters,
// not the send count).
func runIngest(ctx context.Context, t *target, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	drivers := fs.Int("drivers", 1_000, "driver sockets (driver accounts are created once, then reused)")
	rate := fs.Float64("rate", 0, "total frames/s to offer (0: as fast as the sockets take them)")
	warmup := fs.Duration("warmup", 3*time.Second, "send this long before measuring (driver actors activate)")
	duration := fs.Duration("duration", 20*time.Second, "measurement window")
	concurrency := fs.Int("concurrency", 64, "sockets dialled at once")
	aim := fs.Float64("aim", 40_000, "aim: location frames/s accepted")
	if err := parseFlags(fs, t, args); err != nil {
		return err
	}
	if *drivers < 1 || *drivers > 10_000 || *duration > 2*time.Minute || *warmup > time.Minute {
		return fmt.Errorf("-drivers must be 1..10000, -duration ≤ 2m, -warmup ≤ 1m")
	}
	m, err := t.minter()
	if err != nil {
		return err
	}
	a := t.api(32)
	_, admin, err := t.loginDemo(ctx, a, "admin")
	if err != nil {
		return err
	}
	ids, err := ensureDrivers(ctx, a, admin, m, *drivers, t.driverCache())
	if err != nil {
		return err
	}
	tokens := make([]string, len(ids))
	for i, id := range ids {
		tokens[i] = m.token(id, "driver")
	}
	conns, err := t.dialAll(ctx, tokens, *concurrency)
	if err != nil {
		return err
	}
	defer closeAll(conns)

	var ended closeTally
	var replies atomic.Int64 // error frames (rate_limited, validation_failed …)
	for _, c := range conns {
		go func() { ended.add(readLoop(c, func([]byte, time.Time) { replies.Add(1) })) }()
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			streamFixes(runCtx, c, i, *rate/float64(len(conns)), &sent)
		}()
	}
	logf("%d drivers streaming; warming up %s", len(conns), *warmup)
	if err := backoff.Sleep(ctx, *warmup); err != nil {
		return err
	}
	w, err := t.begin(ctx)
	if err != nil {
		return err
	}
	sent0 := sent.Load()
	if err := backoff.Sleep(ctx, *duration); err != nil {
		return err
	}
	if err := w.end(ctx); err != nil {
		return err
	}
	sentN := sent.Load() - sent0
	stop()
	wg.Wait()
	closedByNode := ended.String() // before the tool closes them itself
	closeAll(conns)
	t.awaitDrain(ctx, w.before["outrider_ws_sessions"], time.Minute)

	fixes := func(o string) float64 { return w.rate(series("outrider_driver_fixes_total", "outcome", o)) }
	frames := func(o string) float64 { return w.rate(series("outrider_ws_location_frames_total", "outcome", o)) }
	accepted := fixes("accepted")
	rows := []row{
		{name: "frames sent by the tool /s", value: commas(float64(sentN) / w.elapsed.Seconds())},
		{name: "gateway: passed /s", value: commas(frames("passed"))},
		{name: "gateway: throttled, refused /s", value: commas(frames("throttled")) + ", " + commas(frames("refused"))},
		{name: "driver actors: accepted /s", value: commas(accepted), aim: "≥ " + commas(*aim), verdict: verdict(accepted >= *aim)},
		{name: "driver actors: stale, jump, unknown /s", value: commas(fixes("stale")) + ", " + commas(fixes("jump")) + ", " + commas(fixes("unknown_driver"))},
		{name: "history: recorded /s, dropped /s", value: commas(w.rate("outrider_location_fixes_recorded_total")) + ", " + commas(w.rate("outrider_location_fixes_dropped_total"))},
		{name: "frames answered by the node (errors)", value: commas(float64(replies.Load()))},
		{name: "sockets closed by the node", value: closedByNode},
	}
	printTable(out, fmt.Sprintf("ingest: %d driver sockets, %s window", len(conns), w.elapsed.Round(time.Millisecond)), append(rows, w.cpuRows()...))
	return nil
}

// streamFixes sends driver i's fixes until ctx ends: a slow walk north
// from a start of its own (11 mm per ms at most, far under the jump
// filter's 70 m/s), with strictly increasing timestamps.
func streamFixes(ctx context.Context, c *websocket.Conn, i int, rate float64, sent *atomic.Int64) {
	lat, lng := 48.0+float64(i%1000)*0.001, 11.0+float64(i/1000)*0.001
	var clock fixClock
	p := pacer{rate: rate}
	buf := make([]byte, 0, 128)
	for p.wait(ctx) == nil {
		ts := clock.next(time.Now())
		lat += 1e-7
		buf = fixFrame(buf[:0], lat, lng, ts)
		if err := c.WriteMessage(websocket.TextMessage, buf); err != nil {
			return
		}
		sent.Add(1)
	}
}

// awaitDrain waits (at most max) until the node's sessions fall back to
// base: frames a saturated node has not read yet sit in its socket
// buffers, and it serves the closed sessions until it has read them,
// which would load whatever runs next.
func (t *target) awaitDrain(ctx context.Context, base float64, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		m, err := t.scrape(ctx)
		if err != nil || m["outrider_ws_sessions"] <= base {
			return
		}
		logf("node still reading %s closed sessions' buffered frames", commas(m["outrider_ws_sessions"]-base))
		if backoff.Sleep(ctx, 5*time.Second) != nil {
			return
		}
	}
	logf("node still draining after %s: restart it before the next scenario", max)
}

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/internal/backoff"
)

// runIdle opens N authenticated customer sockets, leaves them idle and
// reports the node's RSS growth per socket (session state included).
func runIdle(ctx context.Context, t *target, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	n := fs.Int("n", 10_000, "idle sockets to open")
	concurrency := fs.Int("concurrency", 64, "sockets dialled at once")
	settle := fs.Duration("settle", 5*time.Second, "wait after the last socket opens before reading RSS")
	hold := fs.Duration("hold", 10*time.Second, "keep the sockets idle this long, then read RSS again")
	checks := fs.Int("check", 5, "sockets that subscribe to their user channel to prove they are live")
	aimKB := fs.Float64("aim-kb", 12, "aim: RSS per idle socket, KB")
	role := fs.String("role", "driver", "whose sockets: driver (one load driver each, created if missing) or customer (all the demo customer's)")
	if err := parseFlags(fs, t, args); err != nil {
		return err
	}
	if *n < 1 || *n > 19_000 || *checks > *n || *hold > 10*time.Minute {
		return fmt.Errorf("-n must be 1..19000 (the hard open-file limit is 20,000), -check ≤ -n, -hold ≤ 10m")
	}
	if *role != "driver" && *role != "customer" {
		return fmt.Errorf("-role must be driver or customer")
	}
	m, err := t.minter()
	if err != nil {
		return err
	}
	// Sessions register with their user's actor, so the users must exist.
	users, err := idleUsers(ctx, t, m, *role, *n)
	if err != nil {
		return err
	}
	tokens := make([]string, *n)
	for i := range users {
		tokens[i] = m.token(users[i], *role)
	}

	base, err := t.scrape(ctx)
	if err != nil {
		return err
	}
	rss0, source, err := t.rssKB(ctx)
	if err != nil {
		return err
	}
	logf("node RSS before: %d KB (%s)", rss0, source)
	conns, err := t.dialAll(ctx, tokens, *concurrency)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	var ended closeTally
	acks := make(chan struct{}, *checks)
	for i, c := range conns {
		fn := func([]byte, time.Time) {}
		if i < *checks {
			fn = func(msg []byte, _ time.Time) {
				if isAck(msg, "live") {
					acks <- struct{}{}
				}
			}
		}
		go func() { ended.add(readLoop(c, fn)) }()
	}
	if err := backoff.Sleep(ctx, *settle); err != nil {
		return err
	}
	rss1, _, err := t.rssKB(ctx)
	if err != nil {
		return err
	}
	logf("node RSS with %d idle sockets: %d KB; holding %s", *n, rss1, *hold)
	if err := backoff.Sleep(ctx, *hold); err != nil {
		return err
	}
	rss2, _, err := t.rssKB(ctx)
	if err != nil {
		return err
	}
	after, err := t.scrape(ctx)
	if err != nil {
		return err
	}
	live, err := checkLive(conns[:*checks], users[:*checks], acks)
	if err != nil {
		return err
	}

	perSettle := float64(rss1-rss0) / float64(*n)
	perHold := float64(rss2-rss0) / float64(*n)
	worst := max(perSettle, perHold)
	heap := delta(base, after, "go_memstats_heap_inuse_bytes") / 1024 / float64(*n)
	stacks := delta(base, after, "go_memstats_stack_inuse_bytes") / 1024 / float64(*n)
	gor := delta(base, after, "go_goroutines") / float64(*n)
	printTable(out, fmt.Sprintf("idle: %d authenticated %s sockets (RSS from %s)", *n, *role, source), []row{
		{name: "sessions open (outrider_ws_sessions)", value: commas(after["outrider_ws_sessions"])},
		{name: "user channel subscribe acked", value: fmt.Sprintf("%d of %d", live, *checks)},
		{name: "sockets closed by the node", value: ended.String()},
		{name: "node RSS before / settled / after hold", value: fmt.Sprintf("%s / %s / %s KB", commas(float64(rss0)), commas(float64(rss1)), commas(float64(rss2)))},
		{name: "RSS per socket, settled", value: fmt.Sprintf("%.1f KB", perSettle)},
		{name: "RSS per socket, after hold", value: fmt.Sprintf("%.1f KB", perHold),
			aim: fmt.Sprintf("≤ %.0f KB", *aimKB), verdict: verdict(worst <= *aimKB)},
		{name: "  of which Go heap in use", value: fmt.Sprintf("%.1f KB", heap)},
		{name: "  of which goroutine stacks", value: fmt.Sprintf("%.1f KB", stacks)},
		{name: "goroutines per socket", value: fmt.Sprintf("%.2f", gor)},
	})
	return nil
}

// idleUsers returns the user of each of n sockets: n distinct load
// drivers (created and made available if missing, which wakes their
// actors: run the scenario once to create them, restart the node, then
// measure), or n times the demo customer.
func idleUsers(ctx context.Context, t *target, m *minter, role string, n int) ([]string, error) {
	a := t.api(16)
	users := make([]string, n)
	if role == "customer" {
		cust, _, err := t.loginDemo(ctx, a, "customer")
		if err != nil {
			return nil, err
		}
		for i := range users {
			users[i] = cust.ID
		}
		return users, nil
	}
	_, admin, err := t.loginDemo(ctx, a, "admin")
	if err != nil {
		return nil, err
	}
	return ensureDrivers(ctx, a, admin, m, n, t.driverCache())
}

// checkLive subscribes each socket to its own user channel (always
// allowed, answered with an ack) and counts the acks its readLoop
// reports on acks within 5 s.
func checkLive(conns []*websocket.Conn, users []string, acks <-chan struct{}) (int, error) {
	for i, c := range conns {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := c.WriteJSON(map[string]string{"type": "subscribe", "id": "live", "channel": "user:" + users[i]}); err != nil {
			return 0, fmt.Errorf("check socket %d: %w", i, err)
		}
	}
	deadline := time.After(5 * time.Second)
	live := 0
	for live < len(conns) {
		select {
		case <-acks:
			live++
		case <-deadline:
			return live, nil
		}
	}
	return live, nil
}

// isAck reports whether msg is the ack of the frame with id.
func isAck(msg []byte, id string) bool {
	return bytes.Contains(msg, []byte(`"type":"ack"`)) && bytes.Contains(msg, []byte(`"id":"`+id+`"`))
}

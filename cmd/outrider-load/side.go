package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/internal/backoff"
)

// runSide measures one server, Outrider or Centrifugo, with the same
// client code (issue #16's side by side; centrifugo.sh runs both): idle
// subscribed sockets and their RSS, or fan-out of a paced stream of
// messages to the subscribers of one channel. Only the server's ends
// differ — how a socket authenticates and subscribes, how a message is
// published, and how a delivered message reads — and sideServer holds
// them. It prints one RESULT line, for the script to gather.
func runSide(ctx context.Context, t *target, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("side", flag.ContinueOnError)
	server := fs.String("server", "outrider", "outrider or centrifugo")
	measure := fs.String("measure", "fanout", "idle (RSS per subscribed socket) or fanout (deliveries to subscribers of one channel)")
	n := fs.Int("n", 1_000, "sockets, each subscribed to the one channel")
	rate := fs.Float64("rate", 500, "fanout: messages/s published to the channel")
	warmup := fs.Duration("warmup", 3*time.Second, "fanout: publish this long before counting")
	duration := fs.Duration("duration", 10*time.Second, "fanout: counting window")
	settle := fs.Duration("settle", 5*time.Second, "idle: wait after the last subscribe before reading RSS")
	concurrency := fs.Int("concurrency", 64, "sockets dialled at once")
	batch := fs.Bool("batch", true, "outrider: ask for batched frames (?batch=1)")
	secret := fs.String("centrifugo-secret", "", "centrifugo: the HMAC secret of connection tokens")
	apiKey := fs.String("centrifugo-api-key", "", "centrifugo: the HTTP API key")
	every := fs.Duration("centrifugo-batch", 10*time.Millisecond, "centrifugo: publish the messages due in each such tick in one /api/batch request (0: one /api/publish per message)")
	label := fs.String("label", "", "a word for the RESULT line (e.g. the run's number)")
	if err := parseFlags(fs, t, args); err != nil {
		return err
	}
	if *n < 1 || *n > 19_000 || *rate <= 0 || *rate > 5_000 || *duration > 2*time.Minute || *warmup > time.Minute || *settle > time.Minute {
		return fmt.Errorf("-n must be 1..19000, -rate 0..5000, -duration ≤ 2m, -warmup and -settle ≤ 1m")
	}
	if t.pid <= 0 {
		return fmt.Errorf("-pid is required: the server's CPU and RSS are read from /proc")
	}
	var srv sideServer
	switch *server {
	case "outrider":
		srv = &outriderSide{t: t, batch: *batch}
	case "centrifugo":
		if *secret == "" || *apiKey == "" {
			return fmt.Errorf("-centrifugo-secret and -centrifugo-api-key are required")
		}
		srv = &centrifugoSide{addr: t.addr, secret: []byte(*secret), apiKey: *apiKey, every: *every}
	default:
		return fmt.Errorf("-server must be outrider or centrifugo")
	}
	if *measure != "idle" && *measure != "fanout" {
		return fmt.Errorf("-measure must be idle or fanout")
	}
	if *every < 0 || *every > time.Second {
		return fmt.Errorf("-centrifugo-batch must be 0..1s")
	}
	if err := srv.setup(ctx, *n); err != nil {
		return err
	}
	rss0, err := procRSS(t.pid)
	if err != nil {
		return err
	}
	conns := make([]*websocket.Conn, *n)
	defer func() { closeAll(conns) }()
	start := time.Now()
	if err := parallel(ctx, *n, *concurrency, func(ctx context.Context, i int) error {
		c, err := srv.open(ctx, i)
		if err != nil {
			return fmt.Errorf("socket %d: %w", i, err)
		}
		conns[i] = c
		return nil
	}); err != nil {
		return err
	}
	logf("%d sockets open and subscribed in %s", *n, time.Since(start).Round(time.Millisecond))
	var ended closeTally
	var cutOff atomic.Int64
	var got, msgs atomic.Int64
	var measuring atomic.Bool
	for _, c := range conns {
		go func() {
			err := readLoop(c, func(msg []byte, _ time.Time) {
				if k := srv.deliveries(c, msg); k > 0 {
					got.Add(int64(k))
					msgs.Add(1)
				}
			})
			if measuring.Load() {
				cutOff.Add(1)
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					ended.count(fmt.Sprintf("code %d %q", ce.Code, ce.Text))
				} else {
					ended.add(err)
				}
			}
		}()
	}
	measuring.Store(true)
	if *measure == "idle" {
		if err := backoff.Sleep(ctx, *settle); err != nil {
			return err
		}
		rss1, err := procRSS(t.pid)
		if err != nil {
			return err
		}
		measuring.Store(false)
		per := float64(rss1-rss0) / float64(*n)
		printTable(out, fmt.Sprintf("side idle: %s, %d subscribed sockets", *server, *n), []row{
			{name: "server RSS before / with the sockets", value: fmt.Sprintf("%s / %s KB", commas(float64(rss0)), commas(float64(rss1)))},
			{name: "RSS per socket", value: fmt.Sprintf("%.1f KB", per)},
			{name: "sockets closed by the server", value: ended.String()},
		})
		fmt.Fprintf(out, "RESULT server=%s measure=idle label=%s sockets=%d rss_kb_per_socket=%.1f closed=%d\n",
			*server, *label, *n, per, cutOff.Load())
		return nil
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var published atomic.Int64
	pubErr := make(chan error, 1)
	go func() { pubErr <- srv.publish(runCtx, *rate, &published) }()
	if err := backoff.Sleep(ctx, *warmup); err != nil {
		return err
	}
	cpu0, err := procCPU(t.pid)
	if err != nil {
		return err
	}
	t0, got0, msgs0, pub0, self0 := time.Now(), got.Load(), msgs.Load(), published.Load(), cpuSeconds()
	if err := backoff.Sleep(ctx, *duration); err != nil {
		return err
	}
	elapsed := time.Since(t0)
	cpu1, err := procCPU(t.pid)
	if err != nil {
		return err
	}
	delivered, pubN, msgN := got.Load()-got0, published.Load()-pub0, msgs.Load()-msgs0
	clientCores := (cpuSeconds() - self0) / elapsed.Seconds()
	stop()
	if err := <-pubErr; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("publisher: %w", err)
	}
	measuring.Store(false)
	cores := (cpu1 - cpu0) / elapsed.Seconds()
	perSec := float64(delivered) / elapsed.Seconds()
	want := float64(pubN) * float64(*n)
	usPerMsg := 0.0
	if delivered > 0 {
		usPerMsg = (cpu1 - cpu0) / float64(delivered) * 1e6
	}
	printTable(out, fmt.Sprintf("side fanout: %s, %d subscribers, %s msg/s, %s window", *server, *n, commas(*rate), elapsed.Round(time.Millisecond)), []row{
		{name: "messages published /s", value: commas(float64(pubN) / elapsed.Seconds())},
		{name: "deliveries /s (client count)", value: commas(perSec)},
		{name: "delivered of published × subscribers", value: fmt.Sprintf("%.1f %%", 100*float64(delivered)/max(want, 1))},
		{name: "subscribers cut off", value: ended.String()},
		{name: "deliveries per WebSocket message", value: fmt.Sprintf("%.2f", float64(delivered)/max(float64(msgN), 1))},
		{name: "server CPU (cores of 2)", value: fmt.Sprintf("%.2f", cores)},
		{name: "load tool CPU (cores of 2)", value: fmt.Sprintf("%.2f", clientCores)},
		{name: "server CPU per delivery", value: fmt.Sprintf("%.2f µs", usPerMsg)},
	})
	fmt.Fprintf(out, "RESULT server=%s measure=fanout label=%s subscribers=%d rate=%g published_per_s=%.0f delivered_per_s=%.0f delivered_pct=%.1f cut_off=%d cores=%.2f us_per_delivery=%.2f per_message=%.2f client_cores=%.2f\n",
		*server, *label, *n, *rate, float64(pubN)/elapsed.Seconds(), perSec, 100*float64(delivered)/max(want, 1), cutOff.Load(), cores, usPerMsg, float64(delivered)/max(float64(msgN), 1), clientCores)
	return nil
}

// sideServer is what differs between the two servers; everything else in
// runSide is the same client code for both.
type sideServer interface {
	// setup readies the one channel (and whatever publishing needs).
	setup(ctx context.Context, n int) error
	// open dials socket i, authenticates and subscribes it to the channel,
	// and returns it once the subscription is confirmed.
	open(ctx context.Context, i int) (*websocket.Conn, error)
	// deliveries is how many published messages msg carries (0 for
	// anything else); it may answer the server on c (Centrifugo's pings).
	deliveries(c *websocket.Conn, msg []byte) int
	// publish publishes to the channel at rate until ctx ends, counting
	// the messages the server accepted.
	publish(ctx context.Context, rate float64, published *atomic.Int64) error
}

// outriderSide: admin sessions subscribed to one order's channel; the
// order's driver streams location fixes over its own socket, each fix a
// location frame to every watcher (as `fanout`).
type outriderSide struct {
	t       *target
	batch   bool
	m       *minter
	tokens  []string
	orderID string
	driver  string
}

func (o *outriderSide) setup(ctx context.Context, n int) error {
	m, err := o.t.minter()
	if err != nil {
		return err
	}
	o.m = m
	if o.orderID, o.driver, err = o.t.fanoutOrder(ctx, m); err != nil {
		return err
	}
	admin, _, err := o.t.loginDemo(ctx, o.t.api(2), "admin")
	if err != nil {
		return err
	}
	o.tokens = make([]string, n)
	for i := range o.tokens {
		o.tokens[i] = m.token(admin.ID, "admin")
	}
	return nil
}

func (o *outriderSide) dial(ctx context.Context, token string) (*websocket.Conn, error) {
	u := "ws://" + o.t.addr + "/v1/ws"
	if o.batch {
		u += "?batch=1"
	}
	c, resp, err := dialer.DialContext(ctx, u, http.Header{"Authorization": {"Bearer " + token}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	return c, err
}

func (o *outriderSide) open(ctx context.Context, i int) (*websocket.Conn, error) {
	c, err := o.dial(ctx, o.tokens[i])
	if err != nil {
		return nil, err
	}
	if err := subscribe(c, "order:"+o.orderID, 15*time.Second); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (o *outriderSide) deliveries(_ *websocket.Conn, msg []byte) int {
	return bytes.Count(msg, []byte(`"type":"location"`))
}

// publish streams the driver's fixes; published counts the fixes the
// node's driver actor accepted (its /metrics), each one a location frame.
func (o *outriderSide) publish(ctx context.Context, rate float64, published *atomic.Int64) error {
	drv, err := o.dial(ctx, o.m.token(o.driver, "driver"))
	if err != nil {
		return err
	}
	defer closeAll([]*websocket.Conn{drv})
	go func() { _ = readLoop(drv, func([]byte, time.Time) {}) }()
	accepted := series("outrider_driver_fixes_total", "outcome", "accepted")
	base, err := o.t.scrape(ctx)
	if err != nil {
		return err
	}
	var sent atomic.Int64
	go streamFixes(ctx, drv, 0, rate, &sent)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		m, err := o.t.scrape(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		published.Store(int64(delta(base, m, accepted)))
	}
}

// centrifugoSide: Centrifugo's JSON protocol over /connection/websocket,
// a connection JWT (HS256) per socket, every socket subscribed to
// side:bench (namespace "side" allows client subscribes), publishes
// through its HTTP API.
type centrifugoSide struct {
	addr   string
	secret []byte
	apiKey string
	every  time.Duration // publish the due messages in one /api/batch this often (0: one /api/publish each)
	client *http.Client
}

const centrifugoChannel = "side:bench"

func (c *centrifugoSide) setup(context.Context, int) error {
	c.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	return nil
}

func (c *centrifugoSide) token(i int) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "side-" + strconv.Itoa(i), "exp": time.Now().Add(2 * time.Hour).Unix()})
	s, err := tok.SignedString(c.secret)
	if err != nil {
		panic(err) // HS256 with a []byte key cannot fail
	}
	return s
}

func (c *centrifugoSide) open(ctx context.Context, i int) (*websocket.Conn, error) {
	conn, resp, err := dialer.DialContext(ctx, "ws://"+c.addr+"/connection/websocket", nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	steps := []map[string]any{
		{"id": 1, "connect": map[string]any{"token": c.token(i), "name": "outrider-load"}},
		{"id": 2, "subscribe": map[string]any{"channel": centrifugoChannel}},
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for _, cmd := range steps {
		if err := conn.WriteJSON(cmd); err != nil {
			conn.Close()
			return nil, err
		}
		if err := centrifugoReply(conn, cmd["id"].(int)); err != nil {
			conn.Close()
			return nil, err
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn, nil
}

// centrifugoReply waits for the reply to command id: Centrifugo's JSON
// protocol may put several replies in one message, one per line.
func centrifugoReply(conn *websocket.Conn, id int) error {
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		for line := range bytes.SplitSeq(msg, []byte("\n")) {
			var r struct {
				ID    int `json:"id"`
				Error *struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if json.Unmarshal(line, &r) != nil || r.ID != id {
				continue
			}
			if r.Error != nil {
				return fmt.Errorf("centrifugo command %d: %d %s", id, r.Error.Code, r.Error.Message)
			}
			return nil
		}
	}
}

var centrifugoPingMu sync.Mutex

func (c *centrifugoSide) deliveries(conn *websocket.Conn, msg []byte) int {
	if bytes.Equal(bytes.TrimSpace(msg), []byte("{}")) {
		// The server's ping: answer with a pong, or it disconnects.
		centrifugoPingMu.Lock()
		_ = conn.WriteMessage(websocket.TextMessage, []byte("{}"))
		centrifugoPingMu.Unlock()
		return 0
	}
	return bytes.Count(msg, []byte(`"push":`))
}

// publish posts location-like messages (the size of Outrider's location
// frame's data) at rate. With every > 0 (-centrifugo-batch) the messages
// due in each such tick go in one /api/batch request, one publish command
// each, in order; with 0, one /api/publish per message. Requests go from
// 8 connections, so that one slow answer does not hold the pace back.
func (c *centrifugoSide) publish(ctx context.Context, rate float64, published *atomic.Int64) error {
	type job struct {
		path  string
		body  []byte
		count int64
	}
	jobs := make(chan job, 64)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := c.post(ctx, j.path, j.body); err != nil {
					if ctx.Err() == nil {
						select {
						case errs <- err:
						default:
						}
					}
					continue
				}
				published.Add(j.count)
			}
		}()
	}
	defer func() { close(jobs); wg.Wait() }()
	var clock fixClock
	lat := 48.0
	message := func(b []byte) []byte {
		lat += 1e-7
		return fmt.Appendf(b, `{"channel":%q,"data":{"type":"location","channel":"order:side","driver_id":"usr_01KBSIDEBYSIDE0000000000000","lat":%.7f,"lng":11.0000000,"ts":%d}}`,
			centrifugoChannel, lat, clock.next(time.Now()))
	}
	send := func(j job) error {
		select {
		case jobs <- j:
			return nil
		case err := <-errs:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if c.every <= 0 {
		p := pacer{rate: rate}
		for p.wait(ctx) == nil {
			if err := send(job{"/api/publish", message(nil), 1}); err != nil {
				return err
			}
		}
		return ctx.Err()
	}
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	start, queued := time.Now(), int64(0)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds()*rate) - queued
		if due <= 0 {
			continue
		}
		b := []byte(`{"commands":[`)
		for i := range due {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"publish":`...)
			b = append(message(b), '}')
		}
		b = append(b, "]}"...)
		queued += due
		if err := send(job{"/api/batch", b, due}); err != nil {
			return err
		}
	}
}

func (c *centrifugoSide) post(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", c.apiKey)
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"error"`)) {
		return fmt.Errorf("publish: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// procRSS is VmRSS of pid in KB.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

// procCPU is the user+system CPU seconds of pid (/proc/pid/stat, at the
// kernel's 100 ticks a second).
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/pid/stat line; the command name in parentheses may hold spaces.
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in /proc stat")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat")
	}
	// f[0] is field 3 (state): utime is field 14, f[11]; stime f[12].
	u, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	s, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return float64(u+s) / 100, nil
}

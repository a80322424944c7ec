package main_test

// Invariant I3 (DESIGN.md §2): a command answered 2xx survives kill -9.
// The test builds the real binary, runs `outrider serve` as a child process
// on a fresh Postgres schema, drives order lifecycles from several
// goroutines, SIGKILLs the process while requests are in flight, restarts
// it on the same schema and checks every acknowledged change is there —
// three times over — and that work continues, including on the orders
// whose commands were cut off by the kill.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/postgres/pgtest"
)

const (
	adminEmail    = "admin@kill.test"
	adminPassword = "admin-password"
	// workers drive one order lifecycle at a time each, with a driver of
	// their own.
	workers = 6
	// acksPerRun is how much acknowledged work happens before each kill.
	acksPerRun = 90
	// kills is how many times the node is killed and restarted.
	kills = 3
)

// buildBinary builds the outrider binary from this module.
func buildBinary(t *testing.T) string {
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

// natsURL is the NATS server for the child (ignored by builds without a
// bus): OUTRIDER_TEST_NATS_URL or the CI machine's.
func natsURL() string {
	if u := os.Getenv("OUTRIDER_TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// streamName is the JetStream stream of the test's node: its own, so its
// subjects (under the schema's namespace) overlap no other stream.
func streamName(schema string) string { return "T_" + strings.ToUpper(schema) }

// dropStream deletes the node's stream, if the node created one.
func dropStream(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(natsURL())
	if err != nil {
		t.Errorf("drop stream %s: %v", name, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err == nil {
		err = js.DeleteStream(ctx, name)
	}
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("drop stream %s: %v", name, err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// server is the child process serving one schema.
type server struct {
	t      *testing.T
	bin    string
	schema string
	dir    string
	runs   int

	// env adds to (and overrides) the settings every run gets.
	env []string

	cmd    *exec.Cmd
	exited chan struct{}
	addr   string
}

// start launches `outrider serve` and waits until /readyz answers 200.
func (s *server) start() {
	t := s.t
	t.Helper()
	s.runs++
	s.addr = freeAddr(t)
	logPath := filepath.Join(s.dir, fmt.Sprintf("stderr-%d.log", s.runs))
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	run := s.runs
	t.Cleanup(func() {
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("outrider stderr of run %d:\n%s", run, tail(b, 150))
		}
	})
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = append(os.Environ(),
		"OUTRIDER_PG_URL="+pgtest.URL(),
		"OUTRIDER_PG_SCHEMA="+s.schema,
		"OUTRIDER_NATS_URL="+natsURL(),
		"OUTRIDER_NATS_NAMESPACE="+s.schema+".",
		"OUTRIDER_NATS_STREAM="+streamName(s.schema),
		"OUTRIDER_HTTP_ADDR="+s.addr,
		"OUTRIDER_JWT_SECRET=kill-test-secret-0123456789abcdefghij",
		"OUTRIDER_ADMIN_EMAIL="+adminEmail,
		"OUTRIDER_ADMIN_PASSWORD="+adminPassword,
		"OUTRIDER_BCRYPT_COST=4",
		"OUTRIDER_RATE_PER_SECOND=100000",
		"OUTRIDER_RATE_BURST=100000",
		"OUTRIDER_AUTH_RATE_PER_SECOND=100000",
		"OUTRIDER_AUTH_RATE_BURST=100000",
		"OUTRIDER_SHUTDOWN_TIMEOUT=10s",
	)
	cmd.Env = append(cmd.Env, s.env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	})

	waitReadyz(t, fmt.Sprintf("outrider (run %d)", run), s.addr, exited, 60*time.Second)
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.t.Helper()
	require.NoError(s.t, s.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		require.FailNow(s.t, "outrider survived SIGKILL")
	}
}

func tail(b []byte, lines int) []byte {
	parts := bytes.Split(b, []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return bytes.Join(parts, []byte("\n"))
}

// api is a JSON client of whichever run of the server is current.
type api struct {
	s  *server
	hc *http.Client
}

func (a *api) do(method, path, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+a.s.addr+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (a *api) must(t *testing.T, method, path, token string, body any, want int, out any) {
	t.Helper()
	status, b, err := a.do(method, path, token, body)
	require.NoError(t, err, "%s %s", method, path)
	require.Equal(t, want, status, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), "%s %s: %s", method, path, b)
	}
}

type tokens struct {
	AccessToken string `json:"access_token"`
	User        struct {
		ID string `json:"id"`
	} `json:"user"`
}

type orderJSON struct {
	ID       string  `json:"id"`
	DriverID *string `json:"driver_id"`
	Status   string  `json:"status"`
	Version  int64   `json:"version"`
}

// ack is one change the server acknowledged with a 2xx.
type ack struct {
	order   string
	version int64
	status  string
}

// worker runs order lifecycles for one driver.
type worker struct {
	driverID, driverToken string
	current               string   // the order in progress, "" when none
	orders                []string // every order it created
}

type harness struct {
	api      *api
	admin    string
	customer string
	workers  []*worker

	mu   sync.Mutex
	acks []ack
	// inflight counts requests sent and not yet answered.
	inflight atomic.Int64
}

func (h *harness) record(a ack) {
	h.mu.Lock()
	h.acks = append(h.acks, a)
	h.mu.Unlock()
}

func (h *harness) ackCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acks)
}

// next is the request that moves an order in status on, or a creation
// when status is "" (no order) or terminal.
func (h *harness) next(w *worker, status string) (method, path, token string, body any) {
	p := "/v1/orders/" + w.current
	switch status {
	case "pending":
		return http.MethodPost, p + "/assign", h.admin, map[string]string{"driver_id": w.driverID}
	case "assigned":
		return http.MethodPost, p + "/accept", w.driverToken, nil
	case "accepted":
		return http.MethodPut, p + "/status", w.driverToken, map[string]string{"status": "picked_up"}
	case "picked_up":
		return http.MethodPut, p + "/status", w.driverToken, map[string]string{"status": "in_transit"}
	case "in_transit":
		return http.MethodPut, p + "/status", w.driverToken, map[string]string{"status": "delivered"}
	}
	return http.MethodPost, "/v1/orders", h.customer, map[string]any{
		"pickup": map[string]string{"address": "1 Pickup Rd"}, "dropoff": map[string]string{"address": "2 Dropoff St"},
		"delivery_option": "express",
	}
}

// drive runs w's lifecycles until maxOps requests were made, an answer is
// not 2xx (a failure before stop is set) or the server stops answering
// (expected once stop is set). It returns an error only for failures.
func (h *harness) drive(w *worker, status string, maxOps int, stop *atomic.Bool) error {
	for range maxOps {
		method, path, token, body := h.next(w, status)
		h.inflight.Add(1)
		code, b, err := h.api.do(method, path, token, body)
		h.inflight.Add(-1)
		if err != nil || code/100 != 2 {
			if stop.Load() {
				return nil // the kill cut it off; the outcome is unknown
			}
			return fmt.Errorf("%s %s: %d %s %v", method, path, code, b, err)
		}
		var o orderJSON
		if err := json.Unmarshal(b, &o); err != nil {
			return fmt.Errorf("%s %s: %w: %s", method, path, err, b)
		}
		h.record(ack{order: o.ID, version: o.Version, status: o.Status})
		if w.current == "" {
			w.current = o.ID
			w.orders = append(w.orders, o.ID)
		}
		status = o.Status
		if status == "delivered" {
			w.current, status = "", ""
		}
	}
	return nil
}

// resume is where a worker picks up after a restart: the order it was
// working on, as the server now has it ("" if its creation was lost with
// the kill, which is fine: it was never acknowledged).
func (h *harness) resume(t *testing.T, w *worker) string {
	t.Helper()
	if w.current == "" {
		return ""
	}
	code, b, err := h.api.do(http.MethodGet, "/v1/orders/"+w.current, h.admin, nil)
	require.NoError(t, err)
	if code == http.StatusNotFound {
		w.current = ""
		return ""
	}
	require.Equal(t, http.StatusOK, code, "%s", b)
	var o orderJSON
	require.NoError(t, json.Unmarshal(b, &o))
	if o.Status == "delivered" {
		w.current = ""
		return ""
	}
	return o.Status
}

// run drives every worker until acks reach target (then calls onTarget,
// e.g. to kill the server while requests are in flight) or maxOps each.
// Workers resume their order in progress first.
func (h *harness) run(t *testing.T, target, maxOps int, onTarget func()) {
	t.Helper()
	statuses := make([]string, len(h.workers))
	for i, w := range h.workers {
		statuses[i] = h.resume(t, w)
	}
	var stop atomic.Bool
	errs := make([]error, len(h.workers))
	var wg sync.WaitGroup
	for i, w := range h.workers {
		wg.Go(func() { errs[i] = h.drive(w, statuses[i], maxOps, &stop) })
	}
	if onTarget != nil {
		require.Eventually(t, func() bool { return h.ackCount() >= target }, 60*time.Second, 5*time.Millisecond,
			"%d acks within 60s", target)
		stop.Store(true)
		onTarget()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// verify checks every acknowledged change against what the server has now.
func (h *harness) verify(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	acks := append([]ack(nil), h.acks...)
	h.mu.Unlock()
	byOrder := map[string][]ack{}
	for _, a := range acks {
		byOrder[a.order] = append(byOrder[a.order], a)
	}
	current := map[string]orderJSON{}
	for id, as := range byOrder {
		var o orderJSON
		h.api.must(t, http.MethodGet, "/v1/orders/"+id, h.admin, nil, http.StatusOK, &o)
		current[id] = o
		var tl struct {
			Items []struct {
				Seq    int64  `json:"seq"`
				Status string `json:"status"`
			} `json:"items"`
		}
		h.api.must(t, http.MethodGet, "/v1/orders/"+id+"/timeline", h.admin, nil, http.StatusOK, &tl)
		require.Len(t, tl.Items, int(o.Version), "order %s: timeline is not 1..version", id)
		for i, it := range tl.Items {
			require.Equal(t, int64(i+1), it.Seq, "order %s timeline", id)
		}
		var last ack
		for _, a := range as {
			require.GreaterOrEqual(t, o.Version, a.version, "order %s lost acknowledged version %d", id, a.version)
			require.Equal(t, a.status, tl.Items[a.version-1].Status, "order %s seq %d", id, a.version)
			if a.version > last.version {
				last = a
			}
		}
		if o.Version == last.version {
			require.Equal(t, last.status, o.Status, "order %s at its last acknowledged version", id)
		}
	}
	// Reservations survived exactly as the orders that hold them (I2).
	for _, w := range h.workers {
		holding := 0
		for _, id := range w.orders {
			o, ok := current[id]
			if !ok {
				h.api.must(t, http.MethodGet, "/v1/orders/"+id, h.admin, nil, http.StatusOK, &o)
			}
			switch o.Status {
			case "assigned", "accepted", "picked_up", "in_transit":
				holding++
			}
		}
		var d struct {
			ActiveOrders int `json:"active_orders"`
		}
		h.api.must(t, http.MethodGet, "/v1/drivers/"+w.driverID, h.admin, nil, http.StatusOK, &d)
		require.Equal(t, holding, d.ActiveOrders, "driver %s", w.driverID)
	}
}

func (h *harness) signIn(t *testing.T) {
	t.Helper()
	var tk tokens
	h.api.must(t, http.MethodPost, "/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}, http.StatusOK, &tk)
	h.admin = tk.AccessToken
	h.api.must(t, http.MethodPost, "/v1/auth/signup", "",
		map[string]string{"name": "Kim Customer", "email": "customer@kill.test", "password": "customer-password"},
		http.StatusCreated, &tk)
	h.customer = tk.AccessToken
	for i := range workers {
		email := fmt.Sprintf("driver-%d@kill.test", i)
		h.api.must(t, http.MethodPost, "/v1/users", h.admin, map[string]any{
			"name": "Driver", "email": email, "password": "driver-password", "role": "driver",
		}, http.StatusCreated, nil)
		h.api.must(t, http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": "driver-password"}, http.StatusOK, &tk)
		h.api.must(t, http.MethodPut, "/v1/drivers/me/availability", tk.AccessToken, map[string]bool{"available": true}, http.StatusOK, nil)
		h.workers = append(h.workers, &worker{driverID: tk.User.ID, driverToken: tk.AccessToken})
	}
}

func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "kill_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		pgtest.DropSchema(t, schema)
		dropStream(t, streamName(schema))
	})
	srv := &server{t: t, bin: buildBinary(t), schema: schema, dir: t.TempDir()}
	h := &harness{api: &api{s: srv, hc: &http.Client{Timeout: 20 * time.Second}}}

	srv.start()
	h.signIn(t)
	var caught int64 // requests in flight at the moments of the kills
	for k := range kills {
		var inflight int64
		h.run(t, h.ackCount()+acksPerRun, 2000, func() {
			inflight = h.inflight.Load()
			srv.kill()
		})
		caught += inflight
		inProgress := 0
		for _, w := range h.workers {
			if w.current != "" {
				inProgress++
			}
		}
		t.Logf("kill %d: %d acknowledged changes so far, %d requests in flight at the kill, %d orders in progress",
			k+1, h.ackCount(), inflight, inProgress)
		h.api.hc.CloseIdleConnections()
		srv.start()
		h.verify(t)
	}

	// After the last restart every worker finishes the order the kill
	// interrupted (at most 5 steps) and runs at least one whole new
	// lifecycle (6 steps): all 12 requests of each must succeed.
	before := h.ackCount()
	h.run(t, 0, 12, nil)
	require.Equal(t, workers*12, h.ackCount()-before)
	h.verify(t)
	require.Positive(t, caught, "no kill caught a request in flight")

	// And the node still shuts down cleanly.
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-srv.exited:
		require.True(t, srv.cmd.ProcessState.Success(), "exit: %v", srv.cmd.ProcessState)
	case <-time.After(30 * time.Second):
		require.FailNow(t, "outrider did not stop on SIGTERM")
	}
}

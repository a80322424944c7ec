package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/dispatch/geo"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// The pickup of the test's order and where its driver stands, ~300 m apart.
const (
	pickupLat, pickupLng = 52.5200, 13.4050
	driverLat, driverLng = 52.5225, 13.4070
	nearerLat, nearerLng = 52.5220, 13.4060
	// The dropoff is at 52.5100, 13.3900; in transit the driver reports
	// from the pickup, then ~300 m from the dropoff, then ~600 m on.
	nearDropLat, nearDropLng = 52.5125, 13.3935
	onwardLat, onwardLng     = 52.5170, 13.3980
)

func TestConsole(t *testing.T) {
	root := e2e.ModuleRoot(t)
	pkg := filepath.Join(root, "clients", "console")
	requireVite(t)
	browser := chromiumPath(t)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	// The install and the build check need no node: run them while the
	// binary builds. The committed build (embedded in the binary) is what
	// the sources make today, and small enough.
	bin := e2e.BuildOutriderWhile(ctx, t, root, func() {
		e2e.NPMInstall(ctx, t, pkg)
		e2e.NPM(ctx, t, pkg, nil, "run", "check:build")
	})

	// The webhook the console adds delivers here (a loopback address: the
	// node must be let to reach it).
	hooks := make(chan string, 64)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hooks <- r.Header.Get("Outrider-Event-Type"):
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	n := e2e.StartDev(t, bin, "OUTRIDER_WEBHOOK_ALLOW_PRIVATE=true")
	url, addr := n.URL, n.Addr
	admin := n.Demo(t, "admin", "")
	api := e2e.NewClient(t, url)
	ca := n.Demo(t, "customer", "")
	customer := api.Login(t, ca.Email, ca.Password)
	da := n.Demo(t, "driver", "driver1@demo.outrider")
	driver := api.Login(t, da.Email, da.Password)

	// The driver's phone: a socket that keeps his jobs (the user channel's
	// events), reporting a position near the pickup so the node ranks him.
	phone := e2e.Dial(t, "driver", addr, driver.Token, func(f e2e.Frame) bool {
		return f.Type == "event" && f.Event == "notification.created"
	})
	var gps track
	gps.at(t, phone, driverLat, driverLng)

	// Two pages of the board's 100: the second one behind "Load more".
	for i := range 101 {
		customer.Post(t, "/v1/orders", map[string]any{
			"pickup":          map[string]any{"address": fmt.Sprintf("%d Backlog Lane", i+1)},
			"dropoff":         map[string]any{"address": "2 Far Street"},
			"delivery_option": "standard",
		}).RequireStatus(t, http.StatusCreated)
	}

	out := os.Getenv("OUTRIDER_CONSOLE_TEST_OUTPUT")
	if out == "" {
		out = filepath.Join(pkg, "test-output")
	}
	require.NoError(t, os.RemoveAll(out))
	s := startScript(ctx, t, pkg, browser, out, url, admin, receiver.URL+"/outrider")

	s.await(t, "board-ready")
	// Placed after the board loaded: only a live frame can show it.
	var order wire.Order
	customer.Post(t, "/v1/orders", map[string]any{
		"pickup":          map[string]any{"address": "1 Depot Road", "lat": pickupLat, "lng": pickupLng},
		"dropoff":         map[string]any{"address": "9 Home Street", "lat": 52.51, "lng": 13.39},
		"delivery_option": "standard",
	}).Decode(t, http.StatusCreated, &order)
	s.send(t, fmt.Sprintf("order %s %s", order.ID, driver.ID()))

	s.await(t, "assign-open")
	// ~90 m nearer the pickup: the panel must follow him live.
	gps.at(t, phone, nearerLat, nearerLng)
	s.send(t, "moved")

	s.await(t, "assigned")
	offered := awaitJob(t, phone, order.ID)
	t.Logf("the driver's socket got job.offered for %s: %s", order.ID, offered.Raw)
	accepted := phone.Ask(map[string]any{"type": "accept", "order_id": order.ID, "id": "accept1"})
	require.Equal(t, "ack", accepted.Type, "the driver's accept: %s", accepted.Raw)
	s.send(t, "accepted")

	s.await(t, "filtered")
	driver.Put(t, "/v1/orders/"+order.ID+"/status", map[string]any{"status": "picked_up"}).RequireStatus(t, http.StatusOK)
	e2e.AddProof(t, driver, order.ID)
	s.send(t, "picked-up")

	status := func(st string) {
		t.Helper()
		driver.Put(t, "/v1/orders/"+order.ID+"/status", map[string]any{"status": st}).RequireStatus(t, http.StatusOK)
	}
	for _, x := range []struct {
		step, reply string
		do          func()
	}{
		// The order page is open: a fix (at the pickup) and in_transit
		// must reach it live.
		{"order-page", "in-transit", func() { gps.at(t, phone, pickupLat, pickupLng); status("in_transit") }},
		// The tracking page is open: the driver comes ~1 km nearer the
		// dropoff, then delivers.
		{"tracking-open", "moved-closer", func() { gps.at(t, phone, nearDropLat, nearDropLng) }},
		{"tracking-moved", "delivered", func() { status("delivered") }},
		// The fleet map is open: he drives ~600 m on.
		{"fleet-open", "fleet-moved", func() { gps.at(t, phone, onwardLat, onwardLng) }},
		// The charts are drawn: one more order today.
		{"stats-open", "placed", func() {
			customer.Post(t, "/v1/orders", map[string]any{
				"pickup":          map[string]any{"address": "3 Late Lane"},
				"dropoff":         map[string]any{"address": "4 Night Road"},
				"delivery_option": "standard",
			}).RequireStatus(t, http.StatusCreated)
		}},
	} {
		s.await(t, x.step)
		x.do()
		s.send(t, x.reply)
	}

	// Back on the board: an order the admin assigned to the other driver,
	// which the console unassigns and hands to automatic dispatch.
	s.await(t, "board-again")
	oa := n.Demo(t, "driver", "driver2@demo.outrider")
	other := api.Login(t, oa.Email, oa.Password)
	var second wire.Order
	customer.Post(t, "/v1/orders", map[string]any{
		"pickup":          map[string]any{"address": "5 Second Street", "lat": pickupLat, "lng": pickupLng},
		"dropoff":         map[string]any{"address": "6 Other Road", "lat": 52.51, "lng": 13.39},
		"delivery_option": "standard",
	}).Decode(t, http.StatusCreated, &second)
	adm := api.Login(t, admin.Email, admin.Password)
	adm.Post(t, "/v1/orders/"+second.ID+"/assign", map[string]any{"driver_id": other.ID()}).RequireStatus(t, http.StatusOK)
	s.send(t, "second "+second.ID)
	s.await(t, "auto-dispatched")
	var dispatch struct {
		Run int `json:"run"`
	}
	adm.Get(t, "/v1/orders/"+second.ID+"/dispatch").Decode(t, http.StatusOK, &dispatch)
	require.Equal(t, 1, dispatch.Run, "the order the console handed to automatic dispatch has had one run")

	s.await(t, "done")
	require.NoError(t, s.wait(), "the browser script failed (its output is above)")
	require.NotEmpty(t, hooks, "the webhook the console added delivered nothing to the receiver")
	t.Logf("screenshots in %s", out)
	copyScreenshots(t, out, filepath.Join(pkg, "screenshots"))
}

// track is the driver's phone's GPS as the test moves him: each fix is
// timed as if he drove there at 40 m/s at most (the node drops a fix that
// implies over 70 m/s as a GPS jump), starting 100 s in the past so that
// his drives take no wall-clock time, and never older than 100 s (the
// node drops fixes older than 2 minutes).
type track struct {
	last     time.Time
	lat, lng float64
}

func (g *track) at(t *testing.T, phone *e2e.WS, lat, lng float64) {
	t.Helper()
	ts := time.Now().Add(-100 * time.Second)
	if !g.last.IsZero() {
		drive := time.Duration(geo.DistanceM(g.lat, g.lng, lat, lng)/40*float64(time.Second)) + time.Second
		if next := g.last.Add(drive); next.After(ts) {
			ts = next
		}
	}
	f := phone.Ask(map[string]any{"type": "location", "lat": lat, "lng": lng, "ts": ts.UnixMilli()})
	require.Equal(t, "ack", f.Type, "the driver's fix at %v,%v: %s", lat, lng, f.Raw)
	g.last, g.lat, g.lng = ts, lat, lng
}

// awaitJob reads the driver's socket until job.offered for orderID.
func awaitJob(t *testing.T, ws *e2e.WS, orderID string) e2e.Frame {
	t.Helper()
	deadline := time.Now().Add(e2e.EventWait)
	for {
		f := ws.Must(time.Until(deadline))
		if f.Type != "event" || f.Event != "job.offered" {
			continue
		}
		var job struct {
			OrderID string `json:"order_id"`
		}
		require.NoError(t, json.Unmarshal(f.Data, &job))
		if job.OrderID == orderID {
			return f
		}
	}
}

// copyScreenshots refreshes the README's screenshots (clients/console/
// screenshots) from this run when OUTRIDER_UPDATE_SCREENSHOTS=1: every run
// makes slightly different PNGs, which must not dirty the work tree.
func copyScreenshots(t *testing.T, from, to string) {
	t.Helper()
	if os.Getenv("OUTRIDER_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	require.NoError(t, os.MkdirAll(to, 0o755))
	for _, name := range []string{"login", "board", "assign", "order", "tracking", "fleet", "stats", "webhooks", "deliveries", "users", "cluster", "board-tablet"} {
		b, err := os.ReadFile(filepath.Join(from, name+".png"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, name+".png"), b, 0o644))
	}
	t.Logf("screenshots copied to %s", to)
}

// script is the browser script (clients/console/e2e/console.e2e.mjs),
// running, with the line protocol its file comment describes.
type script struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	steps chan string
	done  chan error
}

func startScript(ctx context.Context, t *testing.T, pkg, browser, out, url string, admin e2e.DemoAccount, webhookURL string) *script {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", "e2e/console.e2e.mjs")
	cmd.Dir = pkg
	cmd.Env = append(os.Environ(), "NO_COLOR=1",
		"OUTRIDER_URL="+url, "OUTRIDER_ADMIN_EMAIL="+admin.Email, "OUTRIDER_ADMIN_PASSWORD="+admin.Password,
		"OUTRIDER_WEBHOOK_URL="+webhookURL, "CHROMIUM="+browser, "OUT_DIR="+out)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	s := &script{cmd: cmd, stdin: stdin, steps: make(chan string, 8), done: make(chan error, 1)}
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			t.Logf("browser | %s", line)
			if step, ok := strings.CutPrefix(line, "STEP "); ok {
				s.steps <- step
			}
		}
		close(s.steps)
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
	})
	return s
}

// await waits for the script to report step; it fails the test if the
// script ends first or takes over two minutes (Chromium's start on a
// loaded machine; a passing run waits for it, not for the deadline).
func (s *script) await(t *testing.T, step string) {
	t.Helper()
	select {
	case got, ok := <-s.steps:
		if !ok {
			require.FailNow(t, "the browser script ended before "+step, "exit: %v (its output is above)", <-s.done)
		}
		require.Equal(t, step, got)
	case <-time.After(2 * time.Minute):
		require.FailNow(t, "the browser script did not reach "+step+" in two minutes")
	}
}

func (s *script) send(t *testing.T, line string) {
	t.Helper()
	_, err := io.WriteString(s.stdin, line+"\n")
	require.NoError(t, err, "write to the browser script")
}

func (s *script) wait() error {
	_ = s.stdin.Close()
	for range s.steps {
	}
	return <-s.done
}

// chromiumPath is the browser the test drives: $CHROMIUM, else Debian's
// package. Missing, the test fails: the console is not tested without it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	_, err := os.Stat(p)
	require.NoError(t, err, "the console's browser test needs Chromium at %s: install Debian's package (apt-get install -y chromium) or set CHROMIUM", p)
	return p
}

// requireVite fails the test unless node is at least 20.19, the floor
// of Vite 8 (e2e.RequireNodeJS checks for node and npm).
func requireVite(t *testing.T) {
	t.Helper()
	e2e.RequireNodeJS(t, "the console's tests")
	out, err := exec.Command("node", "--version").Output()
	require.NoError(t, err, "node --version")
	var major, minor int
	_, err = fmt.Sscanf(strings.TrimSpace(string(out)), "v%d.%d", &major, &minor)
	require.NoError(t, err, "node --version said %q", out)
	require.True(t, major > 20 || (major == 20 && minor >= 19), "the console's build (Vite 8) needs Node.js 20.19 or later, found %s", out)
}

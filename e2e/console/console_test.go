package console_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// nodeEnv is the dev node's environment: cheap password hashing and the
// request limits lifted (e2e/process's devEnv).
var nodeEnv = []string{
	"OUTRIDER_BCRYPT_COST=4",
	"OUTRIDER_RATE_PER_SECOND=1e6", "OUTRIDER_RATE_BURST=1000000",
	"OUTRIDER_AUTH_RATE_PER_SECOND=1e6", "OUTRIDER_AUTH_RATE_BURST=1000000",
	"OUTRIDER_WS_INBOUND_RATE=1e6", "OUTRIDER_WS_INBOUND_BURST=1000000",
}

// stampFile, inside node_modules, holds the SHA-256 of the
// package-lock.json that `npm ci` last installed from.
const stampFile = ".outrider-lockfile.sha256"

// The pickup of the test's order and where its driver stands, ~300 m apart.
const (
	pickupLat, pickupLng = 52.5200, 13.4050
	driverLat, driverLng = 52.5225, 13.4070
	nearerLat, nearerLng = 52.5220, 13.4060
)

func TestConsole(t *testing.T) {
	root := moduleRoot(t)
	pkg := filepath.Join(root, "clients", "console")
	requireNode(t)
	browser := chromiumPath(t)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	var wg sync.WaitGroup
	var bin string
	var buildErr error
	var buildOut []byte
	wg.Add(1)
	go func() {
		defer wg.Done()
		bin = filepath.Join(t.TempDir(), "outrider")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/outrider")
		build.Dir = root
		buildOut, buildErr = build.CombinedOutput()
	}()
	installIfStale(ctx, t, pkg)
	// The committed build (embedded in the binary) is what the sources
	// make today, and small enough.
	npm(ctx, t, pkg, nil, "run", "check:build")
	wg.Wait()
	require.NoError(t, buildErr, "go build: %s", buildOut)

	dir := t.TempDir()
	url, addr := startDev(t, bin, dir)
	admin := demoAccount(t, dir, "admin", "")
	api := e2e.NewClient(t, url)
	customer := api.Login(t, demoAccount(t, dir, "customer", "").Email, demoAccount(t, dir, "customer", "").Password)
	da := demoAccount(t, dir, "driver", "driver1@demo.outrider")
	driver := api.Login(t, da.Email, da.Password)

	// The driver's phone: a socket that keeps his jobs (the user channel's
	// events), reporting a position near the pickup so the node ranks him.
	phone := e2e.Dial(t, "driver", addr, driver.Token, func(f e2e.Frame) bool {
		return f.Type == "event" && f.Event == "notification.created"
	})
	fix := phone.Ask(map[string]any{"type": "location", "lat": driverLat, "lng": driverLng, "ts": time.Now().UnixMilli()})
	require.Equal(t, "ack", fix.Type, "the driver's fix: %s", fix.Raw)

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
	s := startScript(ctx, t, pkg, browser, out, url, admin)

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
	fix = phone.Ask(map[string]any{"type": "location", "lat": nearerLat, "lng": nearerLng, "ts": time.Now().UnixMilli()})
	require.Equal(t, "ack", fix.Type, "the driver's second fix: %s", fix.Raw)
	s.send(t, "moved")

	s.await(t, "assigned")
	offered := awaitJob(t, phone, order.ID)
	t.Logf("the driver's socket got job.offered for %s: %s", order.ID, offered.Raw)
	accepted := phone.Ask(map[string]any{"type": "accept", "order_id": order.ID, "id": "accept1"})
	require.Equal(t, "ack", accepted.Type, "the driver's accept: %s", accepted.Raw)
	s.send(t, "accepted")

	s.await(t, "filtered")
	driver.Put(t, "/v1/orders/"+order.ID+"/status", map[string]any{"status": "picked_up"}).RequireStatus(t, http.StatusOK)
	s.send(t, "picked-up")

	s.await(t, "done")
	require.NoError(t, s.wait(), "the browser script failed (its output is above)")
	t.Logf("screenshots in %s", out)
	copyScreenshots(t, out, filepath.Join(pkg, "screenshots"))
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
	for _, name := range []string{"login", "board", "assign", "board-tablet"} {
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

func startScript(ctx context.Context, t *testing.T, pkg, browser, out, url string, admin account) *script {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", "e2e/console.e2e.mjs")
	cmd.Dir = pkg
	cmd.Env = append(os.Environ(), "NO_COLOR=1",
		"OUTRIDER_URL="+url, "OUTRIDER_ADMIN_EMAIL="+admin.Email, "OUTRIDER_ADMIN_PASSWORD="+admin.Password,
		"CHROMIUM="+browser, "OUT_DIR="+out)
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

// moduleRoot is the directory of the go.mod this test belongs to.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	gomod := strings.TrimSpace(string(out))
	require.NotEmpty(t, gomod)
	require.NotEqual(t, os.DevNull, gomod)
	return filepath.Dir(gomod)
}

// requireNode fails the test unless node ≥ 20.19 (Vite's floor) and npm are on PATH.
func requireNode(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is required for the console's tests (Node.js 20.19 or later, with npm)", tool)
	}
	out, err := exec.Command("node", "--version").Output()
	require.NoError(t, err, "node --version")
	var major, minor int
	_, err = fmt.Sscanf(strings.TrimSpace(string(out)), "v%d.%d", &major, &minor)
	require.NoError(t, err, "node --version said %q", out)
	require.True(t, major > 20 || (major == 20 && minor >= 19), "the console needs Node.js 20.19 or later, found %s", out)
}

// installIfStale runs `npm ci` unless node_modules was installed from
// the package-lock.json as it is now.
func installIfStale(ctx context.Context, t *testing.T, pkg string) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(pkg, "package-lock.json"))
	require.NoError(t, err, "the console's package-lock.json")
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(pkg, "node_modules", stampFile)
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		t.Logf("node_modules is current with package-lock.json: no npm ci")
		return
	}
	npm(ctx, t, pkg, nil, "ci", "--no-audit", "--no-fund")
	require.NoError(t, os.WriteFile(stamp, []byte(want+"\n"), 0o644))
}

// npm runs npm with args in pkg, its output in the test log, and fails
// the test if it fails.
func npm(ctx context.Context, t *testing.T, pkg string, env []string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = pkg
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OUTRIDER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NO_COLOR=1", "FORCE_COLOR=0")
	cmd.Env = append(cmd.Env, env...)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		t.Logf("npm %s | %s", strings.Join(args, " "), line)
	}
	require.NoError(t, err, "npm %s failed after %s (its output is above)", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
}

type account struct {
	Role     string `json:"role"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// demoAccount reads a login from the dev node's demo accounts: the first
// of role, or the one with email when email is not empty.
func demoAccount(t *testing.T, dir, role, email string) account {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "demo-accounts.json"))
	require.NoError(t, err, "the demo accounts file")
	var accounts []account
	require.NoError(t, json.Unmarshal(raw, &accounts))
	for _, a := range accounts {
		if a.Role == role && (email == "" || a.Email == email) {
			return a
		}
	}
	t.Fatalf("no %s %s among the demo accounts: %s", role, email, raw)
	return account{}
}

// startDev starts `outrider dev` on dir and a free loopback port and
// returns its base URL and address once /readyz answers 200 and the
// banner (printed after the demo accounts exist) is out. The node is
// killed when t ends, and its output logged if t failed.
func startDev(t *testing.T, bin, dir string) (url, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr = l.Addr().String()
	require.NoError(t, l.Close())

	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "dev", "--data-dir", dir, "--http-addr", addr)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OUTRIDER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, nodeEnv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("outrider dev stdout:\n%s\nstderr (last lines):\n%s", stdout.String(), tail(stderr.String(), 80))
		}
	})

	url = "http://" + addr
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(url + "/readyz")
		ready := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			_ = resp.Body.Close()
		}
		if ready && strings.Contains(stdout.String(), "For production run") {
			return url, addr
		}
		select {
		case <-exited:
			t.Fatalf("outrider dev exited before it was ready:\n%s\n%s", stdout.String(), tail(stderr.String(), 40))
		case <-time.After(50 * time.Millisecond):
		}
		require.False(t, time.Now().After(deadline), "outrider dev not ready in 60s:\n%s", stdout.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the process's writer and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

package sdk_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// nodeEnv is the dev node's environment: cheap password hashing and the
// request limits lifted, since every SDK test comes from one address
// (the limits have their own tests in transport/httpapi and transport/ws).
var nodeEnv = []string{
	"OUTRIDER_BCRYPT_COST=4",
	"OUTRIDER_RATE_PER_SECOND=1e6", "OUTRIDER_RATE_BURST=1000000",
	"OUTRIDER_AUTH_RATE_PER_SECOND=1e6", "OUTRIDER_AUTH_RATE_BURST=1000000",
	"OUTRIDER_WS_INBOUND_RATE=1e6", "OUTRIDER_WS_INBOUND_BURST=1000000",
}

// stampFile, inside node_modules, holds the SHA-256 of the
// package-lock.json that `npm ci` last installed from.
const stampFile = ".outrider-lockfile.sha256"

func TestTypeScriptSDK(t *testing.T) {
	root := moduleRoot(t)
	pkg := filepath.Join(root, "clients", "typescript")
	requireNode(t)

	// Alone it takes under a minute; make test runs every package at once.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	// The install and the generated-types check need no node: run them
	// while the binary builds.
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
	npm(ctx, t, pkg, nil, "run", "check:generated")
	wg.Wait()
	require.NoError(t, buildErr, "go build: %s", buildOut)

	dir := t.TempDir()
	url := startDev(t, bin, dir)
	admin := demoAdmin(t, dir)
	npm(ctx, t, pkg, []string{
		"OUTRIDER_URL=" + url,
		"OUTRIDER_ADMIN_EMAIL=" + admin.Email,
		"OUTRIDER_ADMIN_PASSWORD=" + admin.Password,
	}, "test")
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

// requireNode fails the test unless node ≥ 20 and npm are on PATH.
func requireNode(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is required for the TypeScript SDK's tests (Node.js 20 or later, with npm)", tool)
	}
	out, err := exec.Command("node", "--version").Output()
	require.NoError(t, err, "node --version")
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	require.NoError(t, err, "node --version said %q", out)
	require.GreaterOrEqual(t, major, 20, "the SDK's tests need Node.js 20 or later, found %s", v)
}

// installIfStale runs `npm ci` unless node_modules was installed from
// the package-lock.json as it is now.
func installIfStale(ctx context.Context, t *testing.T, pkg string) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(pkg, "package-lock.json"))
	require.NoError(t, err, "the SDK's package-lock.json")
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

// npm runs npm with args in pkg, its output streamed into the test log
// line by line, and fails the test if it fails.
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
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 5 * time.Second
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			t.Logf("npm %s | %s", strings.Join(args, " "), sc.Text())
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	start := time.Now()
	label := strings.Join(args, " ")
	err := cmd.Run()
	_ = w.Close()
	<-done
	require.NoError(t, err, "npm %s failed after %s (its output is above)", label, time.Since(start).Round(time.Millisecond))
	t.Logf("npm %s: ok in %s", label, time.Since(start).Round(time.Millisecond))
}

type account struct {
	Role     string `json:"role"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// demoAdmin reads the admin's login from the dev node's demo accounts.
func demoAdmin(t *testing.T, dir string) account {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "demo-accounts.json"))
	require.NoError(t, err, "the demo accounts file")
	var accounts []account
	require.NoError(t, json.Unmarshal(raw, &accounts))
	for _, a := range accounts {
		if a.Role == "admin" {
			return a
		}
	}
	t.Fatalf("no admin among the demo accounts: %s", raw)
	return account{}
}

// startDev starts `outrider dev` on dir and a free loopback port and
// returns its base URL once /readyz answers 200 and the banner (printed
// after the demo accounts exist) is out. The node is killed when t ends,
// and its output logged if t failed.
func startDev(t *testing.T, bin, dir string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
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

	url := "http://" + addr
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(url + "/readyz")
		ready := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			_ = resp.Body.Close()
		}
		if ready && strings.Contains(stdout.String(), "For production run") {
			return url
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

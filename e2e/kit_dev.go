package e2e

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

// The kit of the tests that run the outrider binary in dev mode and
// drive it from Node.js (e2e/sdk: the TypeScript SDK; e2e/console: the
// console in a browser): build the binary, start `outrider dev`, read its
// demo logins, install an npm package from its lockfile and run npm.

// DevEnv is the environment of a test's dev node: cheap password hashing
// and the request limits lifted, since every request of a test comes
// from one address (the limits have their own tests in transport/httpapi
// and transport/ws).
var DevEnv = []string{
	"OUTRIDER_BCRYPT_COST=4",
	"OUTRIDER_RATE_PER_SECOND=1e6", "OUTRIDER_RATE_BURST=1000000",
	"OUTRIDER_AUTH_RATE_PER_SECOND=1e6", "OUTRIDER_AUTH_RATE_BURST=1000000",
	"OUTRIDER_WS_INBOUND_RATE=1e6", "OUTRIDER_WS_INBOUND_BURST=1000000",
}

// ModuleRoot is the directory of the repository's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	gomod := strings.TrimSpace(string(out))
	require.NotEmpty(t, gomod)
	require.NotEqual(t, os.DevNull, gomod)
	return filepath.Dir(gomod)
}

// BuildOutriderWhile builds ./cmd/outrider of the module at root into a
// temporary directory while meanwhile runs (an npm install and checks,
// which need no node), and returns the binary.
func BuildOutriderWhile(ctx context.Context, t testing.TB, root string, meanwhile func()) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "outrider")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/outrider")
	build.Dir = root
	var out []byte
	var err error
	done := make(chan struct{})
	go func() { defer close(done); out, err = build.CombinedOutput() }()
	meanwhile()
	<-done
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// DevNode is an `outrider dev` child process.
type DevNode struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	Dir  string // its data directory
}

// StartDev starts `outrider dev` on a fresh data directory and a free
// loopback port, with DevEnv and env, and returns once /readyz answers
// 200 and the banner (printed after the demo accounts exist) is out. The
// node is killed when t ends, and its output logged if t failed.
// OUTRIDER_* variables of the test's own environment are not passed on.
func StartDev(t testing.TB, bin string, env ...string) *DevNode {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	n := &DevNode{Addr: l.Addr().String(), Dir: t.TempDir()}
	n.URL = "http://" + n.Addr
	require.NoError(t, l.Close())

	var stdout, stderr SyncBuffer
	cmd := exec.Command(bin, "dev", "--data-dir", n.Dir, "--http-addr", n.Addr)
	cmd.Env = append(withoutOutrider(os.Environ()), DevEnv...)
	// Blob URLs on the origin the tests use (not localhost), so a page's
	// proof photos come from the node it loaded from.
	cmd.Env = append(cmd.Env, "OUTRIDER_PUBLIC_URL="+n.URL)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("outrider dev stdout:\n%s\nstderr (last lines):\n%s", stdout.String(), Tail(stderr.String(), 80))
		}
	})

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(n.URL + "/readyz")
		ready := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			_ = resp.Body.Close()
		}
		if ready && strings.Contains(stdout.String(), "For production run") {
			return n
		}
		select {
		case <-exited:
			require.FailNow(t, "outrider dev exited before it was ready", "%s\n%s", stdout.String(), Tail(stderr.String(), 40))
		case <-time.After(50 * time.Millisecond):
		}
		require.False(t, time.Now().After(deadline), "outrider dev not ready in 60s:\n%s", stdout.String())
	}
}

// DemoAccount is one login of a dev node's demo-accounts.json.
type DemoAccount struct {
	Role     string `json:"role"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Demo is the dev node's demo login of role (and of email, unless "").
func (n *DevNode) Demo(t testing.TB, role, email string) DemoAccount {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(n.Dir, "demo-accounts.json"))
	require.NoError(t, err, "the demo accounts file")
	var accounts []DemoAccount
	require.NoError(t, json.Unmarshal(raw, &accounts))
	for _, a := range accounts {
		if a.Role == role && (email == "" || a.Email == email) {
			return a
		}
	}
	require.FailNow(t, "no such demo account", "%s %s among %s", role, email, raw)
	return DemoAccount{}
}

// RequireNodeJS fails the test unless node ≥ 20 and npm are on PATH; what
// names the tests that need them.
func RequireNodeJS(t testing.TB, what string) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is required for %s (Node.js 20 or later, with npm)", tool, what)
	}
	out, err := exec.Command("node", "--version").Output()
	require.NoError(t, err, "node --version")
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	require.NoError(t, err, "node --version said %q", out)
	require.GreaterOrEqual(t, major, 20, "%s need Node.js 20 or later, found %s", what, v)
}

// lockStamp, inside node_modules, holds the SHA-256 of the
// package-lock.json that `npm ci` last installed from.
const lockStamp = ".outrider-lockfile.sha256"

// NPMInstall runs `npm ci` in pkg unless its node_modules was installed
// from its package-lock.json as it is now.
func NPMInstall(ctx context.Context, t testing.TB, pkg string) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(pkg, "package-lock.json"))
	require.NoError(t, err, "%s's package-lock.json", pkg)
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(pkg, "node_modules", lockStamp)
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		t.Logf("%s: node_modules is current with package-lock.json: no npm ci", filepath.Base(pkg))
		return
	}
	NPM(ctx, t, pkg, nil, "ci", "--no-audit", "--no-fund")
	require.NoError(t, os.WriteFile(stamp, []byte(want+"\n"), 0o644))
}

// NPM runs npm with args in pkg (env added to the test's environment
// without its OUTRIDER_* variables), streams its output into the test
// log line by line, and fails the test if it fails.
func NPM(ctx context.Context, t testing.TB, pkg string, env []string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = pkg
	cmd.Env = append(withoutOutrider(os.Environ()), "NO_COLOR=1", "FORCE_COLOR=0")
	cmd.Env = append(cmd.Env, env...)
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 5 * time.Second
	label := strings.Join(args, " ")
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			t.Logf("npm %s | %s", label, sc.Text())
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	start := time.Now()
	err := cmd.Run()
	_ = w.Close()
	<-done
	require.NoError(t, err, "npm %s failed after %s (its output is above)", label, time.Since(start).Round(time.Millisecond))
	t.Logf("npm %s: ok in %s", label, time.Since(start).Round(time.Millisecond))
}

func withoutOutrider(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "OUTRIDER_") {
			out = append(out, kv)
		}
	}
	return out
}

// SyncBuffer is a bytes.Buffer safe for a child process's writer and
// the test's readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Tail is the last lines of s.
func Tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

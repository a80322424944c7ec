package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clearEnv unsets every OUTRIDER_* variable for the test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OUTRIDER_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

const testSecret = "--jwt-secret=0123456789abcdef0123456789abcdef"

// TestParseEdgeSettings: the TLS files come in pairs, trusted proxies are
// CIDR prefixes, and a bad value stops the start with a message naming
// the setting.
func TestParseEdgeSettings(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		want string // substring of the error; "" for none
	}{
		{"no TLS", nil, ""},
		{"certificate alone", []string{"--tls-cert-file=/etc/tls/tls.crt"}, "set both --tls-cert-file and --tls-key-file"},
		{"key alone", []string{"--tls-key-file=/etc/tls/tls.key"}, "set both --tls-cert-file and --tls-key-file"},
		{"both", []string{"--tls-cert-file=/etc/tls/tls.crt", "--tls-key-file=/etc/tls/tls.key"}, ""},
		{"proxies", []string{"--trusted-proxies=10.0.0.0/8, 2001:db8::/32"}, ""},
		{"bad CIDR", []string{"--trusted-proxies=10.0.0.0/40"}, "OUTRIDER_TRUSTED_PROXIES"},
		{"host name", []string{"--trusted-proxies=lb.internal"}, "not a CIDR prefix"},
	} {
		cfg, _, err := parse("serve", append([]string{testSecret}, tc.args...))
		if tc.want != "" {
			require.ErrorContains(t, err, tc.want, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		if tc.name == "proxies" {
			require.Len(t, cfg.HTTP.TrustedProxies, 2)
			require.Equal(t, "10.0.0.0/8", cfg.HTTP.TrustedProxies[0].String())
		}
	}
	t.Setenv("OUTRIDER_TRUSTED_PROXIES", "192.0.2.0/24")
	t.Setenv("OUTRIDER_METRICS_ADDR", "127.0.0.1:9100")
	t.Setenv("OUTRIDER_S3_PUBLIC_ENDPOINT", "http://localhost:9000")
	cfg, _, err := parse("serve", []string{testSecret})
	require.NoError(t, err)
	require.Equal(t, "192.0.2.0/24", cfg.HTTP.TrustedProxies[0].String())
	require.Equal(t, "127.0.0.1:9100", cfg.HTTP.MetricsAddr)
	require.Equal(t, "http://localhost:9000", cfg.S3.PublicEndpoint)
}

func TestVersionCommand(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.9.9-test"
	var out bytes.Buffer
	require.NoError(t, versionCmd(&out))
	require.Contains(t, out.String(), "outrider v9.9.9-test\n")
	require.Contains(t, out.String(), "go version: "+runtime.Version()+"\n")
	require.Contains(t, out.String(), "commit:")
	require.Contains(t, out.String(), "built:")
}

// TestVersionLinkerFlags builds the binary as a release build would, with
// -ldflags -X, and runs `outrider version`: the values the Makefile and
// Dockerfile pass reach the output.
func TestVersionLinkerFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "outrider")
	ld := "-X main.version=v9.9.9-linked -X main.revision=0123abc -X main.buildTime=2026-12-05T00:00:00Z"
	build := exec.CommandContext(t.Context(), "go", "build", "-ldflags", ld, "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.CommandContext(t.Context(), bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "outrider v9.9.9-linked\ncommit:     0123abc\nbuilt:      2026-12-05T00:00:00Z\ngo version: "+runtime.Version()+"\n", string(out))
}

func TestHealthcheck(t *testing.T) {
	clearEnv(t)
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	probe := func(args ...string) error {
		var stderr bytes.Buffer
		return healthcheck(context.Background(), args, &stderr)
	}

	require.NoError(t, probe("--url", srv.URL+"/readyz"))
	require.ErrorContains(t, probe("--url", srv.URL+"/elsewhere"), "404")
	status.Store(http.StatusServiceUnavailable)
	require.ErrorContains(t, probe("--url", srv.URL+"/readyz"), "503")
	status.Store(http.StatusFound) // a redirect is not healthy
	require.ErrorContains(t, probe("--url", srv.URL+"/readyz"), "302")
	status.Store(http.StatusOK)

	// Too slow.
	start := time.Now()
	require.ErrorContains(t, probe("--url", slow.URL+"/readyz", "--timeout", "200ms"), "deadline exceeded")
	require.Less(t, time.Since(start), 3*time.Second)

	// Nobody listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	require.Error(t, probe("--url", "http://"+closed+"/readyz"))

	require.ErrorContains(t, probe("--url", "ftp://x/readyz"), "want http(s)")

	// The default URL follows OUTRIDER_HTTP_ADDR's port, and the node's
	// own port answers through it.
	require.Equal(t, "http://127.0.0.1:8080/readyz", defaultHealthURL())
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Setenv("OUTRIDER_HTTP_ADDR", ":"+port)
	require.Equal(t, "http://127.0.0.1:"+port+"/readyz", defaultHealthURL())
	require.NoError(t, probe())

	// Over TLS: a self-signed node certificate is accepted on loopback.
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	_, port, err = net.SplitHostPort(tlsSrv.Listener.Addr().String())
	require.NoError(t, err)
	t.Setenv("OUTRIDER_HTTP_ADDR", "0.0.0.0:"+port)
	t.Setenv("OUTRIDER_TLS_CERT_FILE", "/etc/tls/tls.crt")
	require.Equal(t, "https://127.0.0.1:"+port+"/readyz", defaultHealthURL())
	require.NoError(t, probe())
}

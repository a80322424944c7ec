package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/internal/tlstest"
)

// TestMetricsListenerAndBuildInfo: with MetricsAddr the node serves
// /metrics there, with outrider_build_info, and answers it 404 on the API
// listener.
func TestMetricsListenerAndBuildInfo(t *testing.T) {
	n := e2e.Start(t, func(c *app.Config) {
		c.HTTP.MetricsAddr = "127.0.0.1:0"
		c.Build = app.Build{Version: "v1.2.3-test", Revision: "abc123", GoVersion: runtime.Version()}
	})
	require.NotEmpty(t, n.MetricsAddr())
	require.NotEqual(t, n.Addr(), n.MetricsAddr())

	status, _ := get(t, http.DefaultClient, "http://"+n.Addr()+"/healthz")
	require.Equal(t, http.StatusOK, status)
	status, body := get(t, http.DefaultClient, "http://"+n.MetricsAddr()+"/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `outrider_build_info{goversion="`+runtime.Version()+`",revision="abc123",version="v1.2.3-test"} 1`)
	require.Contains(t, body, `outrider_http_requests_total{method="GET",route="/healthz",status="200"} 1`)

	status, body = get(t, http.DefaultClient, "http://"+n.Addr()+"/metrics")
	require.Equal(t, http.StatusNotFound, status, body)
	require.Contains(t, body, `"code":"not_found"`)
}

// TestBuildInfoDefault: without MetricsAddr /metrics stays on the API
// listener, and the build is read from the binary.
func TestBuildInfoDefault(t *testing.T) {
	n := e2e.Start(t, nil)
	require.Empty(t, n.MetricsAddr())
	status, body := get(t, http.DefaultClient, "http://"+n.Addr()+"/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `outrider_build_info{goversion="`+runtime.Version()+`",`)
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestTrustedProxyRateLimits: two clients behind one trusted proxy get a
// bucket each, while a peer that is not a trusted proxy stays one client
// whatever X-Forwarded-For it forges. The proxy is 127.0.0.1; the
// untrusted peer dials from 127.0.0.2 (Linux routes all of 127/8 to
// loopback).
func TestTrustedProxyRateLimits(t *testing.T) {
	const burst = 3
	n := e2e.Start(t, func(c *app.Config) {
		c.HTTP.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.HTTP.RatePerSecond, c.HTTP.RateBurst = 0.01, burst
	})
	base := "http://" + n.Addr() + "/healthz"
	from := func(local string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		tr := &http.Transport{DialContext: d.DialContext}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	probe := func(c *http.Client, xff string) int {
		req, err := http.NewRequest(http.MethodGet, base, nil)
		require.NoError(t, err)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	proxy, stranger := from("127.0.0.1"), from("127.0.0.2")

	// Alice spends her bucket through the proxy...
	for range burst {
		require.Equal(t, http.StatusOK, probe(proxy, "198.51.100.1"))
	}
	require.Equal(t, http.StatusTooManyRequests, probe(proxy, "198.51.100.1"))
	// ... a forged entry left of hers does not give her a new one ...
	require.Equal(t, http.StatusTooManyRequests, probe(proxy, "203.0.113.9, 198.51.100.1"))
	// ... and Bob, behind the same proxy, has his own.
	for range burst {
		require.Equal(t, http.StatusOK, probe(proxy, "198.51.100.2"))
	}

	// The stranger is not a proxy: his X-Forwarded-For is ignored, so
	// varying it does not escape his own bucket.
	for i := range burst {
		require.Equal(t, http.StatusOK, probe(stranger, "192.0.2."+strconv.Itoa(i+1)))
	}
	require.Equal(t, http.StatusTooManyRequests, probe(stranger, "192.0.2.99"))
	require.Equal(t, http.StatusTooManyRequests, probe(stranger, ""))
}

// TestTLSNode: a node with a certificate serves HTTPS and wss; when the
// files are replaced by a second tlstest.Pair, a later handshake presents it
// without a restart.
func TestTLSNode(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, second := tlstest.NewPair(t, "first"), tlstest.NewPair(t, "second")
	first.Write(t, certFile, keyFile)
	n := e2e.Start(t, func(c *app.Config) {
		c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = certFile, keyFile
		c.HTTP.CertCheckInterval = 50 * time.Millisecond
	})
	roots := x509.NewCertPool()
	roots.AddCert(first.Cert)
	tlsConf := &tls.Config{RootCAs: roots}
	tr := &http.Transport{TLSClientConfig: tlsConf}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	status, _ := get(t, client, "https://"+n.Addr()+"/readyz")
	require.Equal(t, http.StatusOK, status)

	// Log in over HTTPS, then open a wss session and ping it.
	body, _ := json.Marshal(map[string]string{"email": e2e.AdminEmail, "password": e2e.AdminPassword})
	resp, err := client.Post("https://"+n.Addr()+"/v1/auth/login", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	dialer := websocket.Dialer{TLSClientConfig: tlsConf, HandshakeTimeout: 5 * time.Second}
	conn, wsResp, err := dialer.Dial("wss://"+n.Addr()+"/v1/ws", http.Header{"Authorization": {"Bearer " + tok.AccessToken}})
	require.NoError(t, err)
	wsResp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.WriteJSON(map[string]string{"type": "ping"}))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	for {
		var f struct {
			Type string `json:"type"`
		}
		require.NoError(t, conn.ReadJSON(&f))
		if f.Type == "pong" {
			break
		}
	}

	// Renewed certificate: a new handshake presents it.
	second.Write(t, certFile, keyFile)
	roots2 := x509.NewCertPool()
	roots2.AddCert(second.Cert)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := tls.Dial("tcp", n.Addr(), &tls.Config{RootCAs: roots2})
		if err == nil {
			c.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "the node still presents the first certificate: %v", err)
		<-tick.C
	}
	// The open session is not disturbed by the renewal.
	require.NoError(t, conn.WriteJSON(map[string]string{"type": "ping"}))
}

// TestTLSMismatchedPairRefused: a key that does not belong to the
// certificate stops the node's start.
func TestTLSMismatchedPairRefused(t *testing.T) {
	dir := t.TempDir()
	a, b := tlstest.NewPair(t, "a"), tlstest.NewPair(t, "b")
	a.Write(t, filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key"))
	b.Write(t, filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key"))
	cfg := e2e.Config(t)
	cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile = filepath.Join(dir, "a.crt"), filepath.Join(dir, "b.key")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := app.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		_ = n.Stop(ctx)
	}
	require.ErrorContains(t, err, "private key does not match public key")
}

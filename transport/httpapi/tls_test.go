package httpapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/internal/tlstest"
	"github.com/outrider/outrider/transport/httpapi"
)

// presented is the certificate a new TLS handshake with addr shows.
func presented(t *testing.T, addr string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1",
		InsecureSkipVerify: roots == nil})
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func jwtSecret() []byte { return []byte(strings.Repeat("s", 32)) }

// TestTLSFilesBothOrNeither: one file alone, or a key that does not
// belong to the certificate, refuses to start.
func TestTLSFilesBothOrNeither(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := tlstest.NewPair(t, "a"), tlstest.NewPair(t, "b")
	certA, keyA := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	a.Write(t, certA, keyA)
	keyB := filepath.Join(dir, "b.key")
	b.Write(t, filepath.Join(dir, "b.crt"), keyB)

	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"certificate only", certA, "", "both"},
		{"key only", "", keyA, "both"},
		{"mismatched pair", certA, keyB, "private key does not match public key"},
		{"missing file", filepath.Join(dir, "none.crt"), keyA, "no such file"},
	} {
		_, err := httpapi.New(httpapi.Config{JWTSecret: jwtSecret(), TLSCertFile: tc.cert, TLSKeyFile: tc.key}, httpapi.Deps{})
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	s, err := httpapi.New(httpapi.Config{JWTSecret: jwtSecret(), TLSCertFile: certA, TLSKeyFile: keyA}, httpapi.Deps{})
	require.NoError(t, err)
	require.True(t, s.TLS())
}

// TestTLSReload: the server answers HTTPS with the first pair; a broken
// replacement keeps it (and is logged at error); a good one is presented
// by a later handshake without a restart.
func TestTLSReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, second := tlstest.NewPair(t, "first"), tlstest.NewPair(t, "second")
	first.Write(t, certFile, keyFile)
	log, lines := newCapture()
	s, err := httpapi.New(httpapi.Config{JWTSecret: jwtSecret(), TLSCertFile: certFile, TLSKeyFile: keyFile,
		CertCheckInterval: 20 * time.Millisecond}, httpapi.Deps{Logger: log})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.StartOn(context.Background(), ln)
	t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })

	roots := x509.NewCertPool()
	roots.AddCert(first.Cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get("https://" + s.Addr() + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Plain HTTP on the TLS listener: net/http answers 400 and closes.
	resp, err = http.Get("http://" + s.Addr() + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// A broken pair: the second certificate with the first key.
	require.NoError(t, os.WriteFile(certFile, second.CertPEM, 0o600))
	eventually(t, 5*time.Second, func() bool {
		presented(t, s.Addr(), nil) // a handshake runs the check
		for _, l := range lines() {
			if l.level == slog.LevelError && strings.Contains(l.msg, "do not load") {
				return true
			}
		}
		return false
	})
	require.Equal(t, first.Cert.SerialNumber, presented(t, s.Addr(), roots).SerialNumber, "the old pair is kept")

	second.Write(t, certFile, keyFile)
	roots2 := x509.NewCertPool()
	roots2.AddCert(second.Cert)
	eventually(t, 5*time.Second, func() bool {
		return presented(t, s.Addr(), nil).SerialNumber.Cmp(second.Cert.SerialNumber) == 0
	})
	// And it verifies against the new CA.
	require.Equal(t, second.Cert.SerialNumber, presented(t, s.Addr(), roots2).SerialNumber)
}

// eventually polls cond every 10 ms until it holds or d has passed.
func eventually(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		<-tick.C
	}
}

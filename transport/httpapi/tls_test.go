package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/transport/httpapi"
)

// testPair is a self-signed certificate for 127.0.0.1 and localhost, in
// PEM, and the certificate itself (its own CA).
type testPair struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
}

func newTestPair(t *testing.T, name string) testPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return testPair{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		cert:    cert,
	}
}

// write puts the pair's files at certFile and keyFile, each replaced in
// one rename, as a certificate manager does.
func (p testPair) write(t *testing.T, certFile, keyFile string) {
	t.Helper()
	for f, b := range map[string][]byte{certFile: p.certPEM, keyFile: p.keyPEM} {
		tmp := f + ".tmp"
		require.NoError(t, os.WriteFile(tmp, b, 0o600))
		require.NoError(t, os.Rename(tmp, f))
	}
}

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
	a, b := newTestPair(t, "a"), newTestPair(t, "b")
	certA, keyA := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	a.write(t, certA, keyA)
	keyB := filepath.Join(dir, "b.key")
	b.write(t, filepath.Join(dir, "b.crt"), keyB)

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
	first, second := newTestPair(t, "first"), newTestPair(t, "second")
	first.write(t, certFile, keyFile)
	log, lines := newCapture()
	s, err := httpapi.New(httpapi.Config{JWTSecret: jwtSecret(), TLSCertFile: certFile, TLSKeyFile: keyFile,
		CertCheckInterval: 20 * time.Millisecond}, httpapi.Deps{Logger: log})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.StartOn(context.Background(), ln)
	t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })

	roots := x509.NewCertPool()
	roots.AddCert(first.cert)
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
	require.NoError(t, os.WriteFile(certFile, second.certPEM, 0o600))
	eventually(t, 5*time.Second, func() bool {
		presented(t, s.Addr(), nil) // a handshake runs the check
		for _, l := range lines() {
			if l.level == slog.LevelError && strings.Contains(l.msg, "do not load") {
				return true
			}
		}
		return false
	})
	require.Equal(t, first.cert.SerialNumber, presented(t, s.Addr(), roots).SerialNumber, "the old pair is kept")

	second.write(t, certFile, keyFile)
	roots2 := x509.NewCertPool()
	roots2.AddCert(second.cert)
	eventually(t, 5*time.Second, func() bool {
		return presented(t, s.Addr(), nil).SerialNumber.Cmp(second.cert.SerialNumber) == 0
	})
	// And it verifies against the new CA.
	require.Equal(t, second.cert.SerialNumber, presented(t, s.Addr(), roots2).SerialNumber)
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

package httpapi

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCertCheckInterval is Config.CertCheckInterval's default.
const DefaultCertCheckInterval = 2 * time.Second

// certReloader holds the listener's certificate and reads the files
// again when they change, so a renewed certificate (cert-manager, certbot)
// is served without a restart. A handshake looks at the files' size and
// modification time at most once an interval; when either changed it
// loads the pair, and a pair that does not load (half written, key and
// certificate that do not match) keeps the old one, logged once per
// change of the files.
type certReloader struct {
	certFile, keyFile string
	interval          time.Duration
	log               *slog.Logger

	cert atomic.Pointer[tls.Certificate]

	mu      sync.Mutex // guards the fields below; held only to check
	checked time.Time
	stamp   fileStamps // of the files the current certificate, or the last failure, came from
}

type fileStamp struct {
	size int64
	mod  time.Time
}

type fileStamps struct{ cert, key fileStamp }

func newCertReloader(certFile, keyFile string, interval time.Duration, log *slog.Logger) (*certReloader, error) {
	if interval <= 0 {
		interval = DefaultCertCheckInterval
	}
	c := &certReloader{certFile: certFile, keyFile: keyFile, interval: interval, log: log}
	st, err := c.stamps()
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	c.cert.Store(&pair)
	c.stamp, c.checked = st, time.Now()
	return c, nil
}

func (c *certReloader) stamps() (fileStamps, error) {
	var st fileStamps
	for _, f := range []struct {
		name string
		to   *fileStamp
	}{{c.certFile, &st.cert}, {c.keyFile, &st.key}} {
		fi, err := os.Stat(f.name)
		if err != nil {
			return st, fmt.Errorf("TLS file: %w", err)
		}
		*f.to = fileStamp{fi.Size(), fi.ModTime()}
	}
	return st, nil
}

// getCertificate is tls.Config.GetCertificate.
func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.maybeReload(time.Now())
	return c.cert.Load(), nil
}

func (c *certReloader) maybeReload(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.checked) < c.interval {
		return
	}
	c.checked = now
	st, err := c.stamps()
	if err != nil {
		if st != c.stamp {
			c.log.Error("TLS certificate files unreadable; serving the previous certificate", "err", err)
			c.stamp = st
		}
		return
	}
	if st == c.stamp {
		return
	}
	c.stamp = st
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.log.Error("TLS certificate files changed but do not load; serving the previous certificate",
			"cert_file", c.certFile, "key_file", c.keyFile, "err", err)
		return
	}
	c.cert.Store(&pair)
	c.log.Info("TLS certificate reloaded", "cert_file", c.certFile)
}

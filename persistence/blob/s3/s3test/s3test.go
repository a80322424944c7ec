// Package s3test gives each test a fresh, empty bucket on a real S3
// server, never a mock.
//
// Start is the entry point. The server is, in order of preference:
//
//   - the one named by OUTRIDER_TEST_S3_ENDPOINT (with
//     OUTRIDER_TEST_S3_ACCESS_KEY, OUTRIDER_TEST_S3_SECRET_KEY and
//     optionally OUTRIDER_TEST_S3_REGION), e.g. a CI machine's MinIO;
//   - otherwise a versitygw the package starts on a free loopback port,
//     serving a temporary directory (its posix backend). The binary is
//     looked up on PATH, then in $GOBIN and $GOPATH/bin; `make tools`
//     installs it.
//
// If neither is possible the test fails, saying how to install
// versitygw: a missing server never skips a test.
//
// # Sharing
//
// Tests of one binary share one versitygw process: the first Start
// launches it, every Start takes a reference released by t.Cleanup, and
// the last release kills it and removes its directory. Each test still
// gets its own bucket, removed (with its objects) when the test ends.
// mu guards the shared server and its reference count.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/outrider/outrider/persistence/blob/s3"
)

// The environment variables that name an existing server.
const (
	EnvEndpoint  = "OUTRIDER_TEST_S3_ENDPOINT" // host:port or http(s)://host:port
	EnvAccessKey = "OUTRIDER_TEST_S3_ACCESS_KEY"
	EnvSecretKey = "OUTRIDER_TEST_S3_SECRET_KEY"
	EnvRegion    = "OUTRIDER_TEST_S3_REGION" // default s3.DefaultRegion
)

// InstallCommand installs the versitygw the tests start (what `make
// tools` runs).
const InstallCommand = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is where the test's bucket lives.
type Server struct {
	Endpoint  string // host:port
	UseSSL    bool
	AccessKey string
	SecretKey string
	Region    string
}

var (
	mu     sync.Mutex
	shared *versitygw // nil when no test holds a reference
	refs   int
)

// Start returns the configuration of a new, empty bucket on a running S3
// server, and removes the bucket when t ends. Config.Transport is a
// transport of this test's own, closed at the end too, so no idle
// connection outlives the test (goleak).
func Start(t testing.TB) s3.Config {
	t.Helper()
	srv := server(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	cfg := s3.Config{
		Endpoint:  srv.Endpoint,
		Bucket:    "outrider-test-" + randomString(8),
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Region:    srv.Region,
		UseSSL:    srv.UseSSL,
		Transport: tr,
	}
	admin, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseSSL,
		Region:    cfg.Region,
		Transport: tr,
	})
	if err != nil {
		t.Fatalf("s3test: client for %s: %v", cfg.Endpoint, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
		t.Fatalf("s3test: create bucket %s on %s: %v", cfg.Bucket, cfg.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := removeBucket(ctx, admin, cfg.Bucket); err != nil {
			t.Errorf("s3test: %v", err)
		}
	})
	return cfg
}

// server returns the server for t: the one in the environment, or the
// shared versitygw, referenced until t ends.
func server(t testing.TB) Server {
	t.Helper()
	if srv, ok, err := fromEnv(); err != nil {
		t.Fatalf("s3test: %v", err)
	} else if ok {
		return srv
	}
	mu.Lock()
	defer mu.Unlock()
	if shared == nil {
		gw, err := startVersitygw()
		if err != nil {
			t.Fatalf("s3test: no S3 server: %v\n\nEither install versitygw (`%s`, or `make tools`) or point %s, %s and %s at a server.",
				err, InstallCommand, EnvEndpoint, EnvAccessKey, EnvSecretKey)
		}
		shared = gw
	}
	refs++
	srv := shared.srv
	t.Cleanup(release)
	return srv
}

func release() {
	mu.Lock()
	defer mu.Unlock()
	refs--
	if refs == 0 {
		shared.stop()
		shared = nil
	}
}

// fromEnv reads the server named in the environment; ok is false if
// EnvEndpoint is unset.
func fromEnv() (srv Server, ok bool, err error) {
	raw := os.Getenv(EnvEndpoint)
	if raw == "" {
		return Server{}, false, nil
	}
	srv = Server{
		Endpoint:  raw,
		AccessKey: os.Getenv(EnvAccessKey),
		SecretKey: os.Getenv(EnvSecretKey),
		Region:    os.Getenv(EnvRegion),
	}
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return Server{}, false, fmt.Errorf("%s=%q: want host:port or http(s)://host:port", EnvEndpoint, raw)
		}
		srv.Endpoint, srv.UseSSL = u.Host, u.Scheme == "https"
	}
	if srv.AccessKey == "" || srv.SecretKey == "" {
		return Server{}, false, fmt.Errorf("%s is set but %s or %s is not", EnvEndpoint, EnvAccessKey, EnvSecretKey)
	}
	if srv.Region == "" {
		srv.Region = s3.DefaultRegion
	}
	return srv, true, nil
}

// removeBucket deletes every object in bucket, then the bucket.
func removeBucket(ctx context.Context, c *minio.Client, bucket string) error {
	var errs []error
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			errs = append(errs, fmt.Errorf("list bucket %s: %w", bucket, obj.Err))
			break
		}
		if err := c.RemoveObject(ctx, bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("remove %s/%s: %w", bucket, obj.Key, err))
		}
	}
	if err := c.RemoveBucket(ctx, bucket); err != nil {
		errs = append(errs, fmt.Errorf("remove bucket %s: %w", bucket, err))
	}
	return errors.Join(errs...)
}

// randomString is 2n random lowercase hex digits (valid in bucket names
// and access keys). crypto/rand.Read never fails.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

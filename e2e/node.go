package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outrider/outrider/cluster"
	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
	"github.com/outrider/outrider/transport/bus"
	"github.com/outrider/outrider/transport/httpapi"
	"github.com/outrider/outrider/worker"
	"github.com/outrider/outrider/worker/webhook"
)

// Credentials of the admin Start creates.
const (
	AdminEmail    = "admin@outrider.test"
	AdminPassword = "admin-password"
	JWTSecret     = "outrider-test-secret-0123456789abcdef"
)

// Config is a node configuration for tests: its own fresh Postgres
// schema (dropped when t ends), HTTP and cluster on free ports, cheap
// password hashing and limits high enough not to get in the way.
func Config(t testing.TB) app.Config {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "app_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		pgtest.DropSchema(t, schema)
		// The events streams and the member directory bucket of the
		// node's namespace: all their names hold the schema.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := fleet.DeleteStreams(ctx, NATSURL(), schema); err != nil {
			t.Errorf("e2e: %v", err)
		}
	})
	return app.Config{
		PGURL:    pgtest.URL(),
		PGSchema: schema,
		NATSURL:  NATSURL(),
		// Each test node gets a stream of its own, so tests do not see each
		// other's events.
		Relay: bus.RelayConfig{Stream: "T_" + strings.ToUpper(schema), Namespace: schema + ".", MaxAge: time.Hour},
		HTTP: httpapi.Config{
			Addr: "127.0.0.1:0", JWTSecret: []byte(JWTSecret), BcryptCost: 4,
			RatePerSecond: 1e6, RateBurst: 1e6, AuthRatePerSecond: 1e6, AuthRateBurst: 1e6,
		},
		Cluster: cluster.Config{Provider: cluster.ProviderLocal, Port: 0},
		// Blobs on local disk by default; tests of the S3 path set S3
		// (from persistence/blob/s3/s3test) and clear BlobDir.
		BlobDir: t.TempDir(),
		// Workers retry fast in tests; a killed worker's events come back
		// after AckWait.
		Worker: worker.Config{AckWait: 5 * time.Second, RetryBase: 50 * time.Millisecond, RetryMax: time.Second,
			// Test receivers listen on loopback.
			Webhook: webhook.Config{Timeout: 2 * time.Second, AllowPrivate: true}},
		AdminEmail:      AdminEmail,
		AdminPassword:   AdminPassword,
		ShutdownTimeout: 10 * time.Second,
	}
}

// Start starts a node on Config (adjusted by mutate, if given) and
// stops it when t ends. Proto.Actor's remote is not safe to start twice
// concurrently in one process: tests that start nodes must not run in
// parallel with each other.
func Start(t testing.TB, mutate func(*app.Config)) *app.Node {
	t.Helper()
	cfg := Config(t)
	if mutate != nil {
		mutate(&cfg)
	}
	level := slog.LevelWarn
	if os.Getenv("OUTRIDER_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := app.Start(ctx, cfg, log)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	return n
}

// NATSURL is the NATS server tests use: OUTRIDER_TEST_NATS_URL or the
// CI machine's 127.0.0.1:4222. A missing server fails the test.
func NATSURL() string {
	if u := os.Getenv("OUTRIDER_TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// Up starts a node (Start) and connects to it as its admin (Connect).
func Up(t *testing.T, mutate func(*app.Config)) (*app.Node, *API) {
	t.Helper()
	n := Start(t, mutate)
	return n, Connect(t, "http://"+n.Addr(), AdminEmail, AdminPassword)
}

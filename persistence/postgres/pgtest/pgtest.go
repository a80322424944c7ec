// Package pgtest gives tests a Store on a Postgres schema of their own.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/persistence/postgres"
)

// URLEnv names the environment variable holding the Postgres URL that
// tests use; DefaultURL is used when it is unset (the CI server).
const (
	URLEnv     = "OUTRIDER_TEST_PG_URL"
	DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// URL is the Postgres URL tests connect to.
func URL() string {
	if u := os.Getenv(URLEnv); u != "" {
		return u
	}
	return DefaultURL
}

// Open returns a Store on a fresh, migrated, empty schema of its own
// (t_<random>), dropped with everything in it when t ends. A server that
// cannot be reached fails the test: it is never skipped.
func Open(t testing.TB) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	s, err := postgres.Open(ctx, URL(), postgres.Options{Schema: schema, MaxConns: 8, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open test postgres: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		DropSchema(t, schema)
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate test postgres (%s=%q): %v", URLEnv, URL(), err)
	}
	return s
}

// DropSchema drops a test schema and everything in it, reporting a
// failure on t.
func DropSchema(t testing.TB, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, URL())
	if err != nil {
		t.Errorf("drop test schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("drop test schema %s: %v", schema, err)
	}
}

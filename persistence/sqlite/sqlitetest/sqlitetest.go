// Package sqlitetest gives tests a Store on a SQLite file of their own.
package sqlitetest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/outrider/outrider/persistence/sqlite"
)

// Open returns a Store on a fresh, migrated database file in a
// temporary directory of t, closed and removed when t ends.
func Open(t testing.TB) *sqlite.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "outrider.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open test sqlite: %v", err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate test sqlite %s: %v", path, err)
	}
	return s
}

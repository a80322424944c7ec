package sqlite

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// OpenTest returns a Store on a fresh, migrated database file in a
// temporary directory of t, closed and removed when t ends.
func OpenTest(t testing.TB) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "outrider.db")
	s, err := Open(ctx, path, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open test sqlite: %v", err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate test sqlite %s: %v", path, err)
	}
	return s
}

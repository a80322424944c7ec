// Package sqlite is Outrider's embedded storage backend, for `outrider dev`:
// it implements persistence.Backend on one SQLite file through the pure-Go
// driver modernc.org/sqlite (no cgo), and passes the same conformance suite
// (persistence/storetest) as the Postgres backend.
//
// Start with Open and Store.Commit. The schema lives in
// persistence/migrations/sqlite, applied by Store.Migrate.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL: COMMIT returns only
// after the transaction's WAL frames have been fsynced, so a commit that
// Store.Commit acknowledged survives kill -9 of the process and a power
// loss or kernel crash of the machine (invariant I3). synchronous=NORMAL,
// SQLite's usual WAL setting, survives kill -9 too but may lose the last
// commits on power loss; that is the trade this package refuses, at the
// price of one fsync per commit.
//
// # Concurrency
//
// SQLite allows one writer at a time per file. This package makes that
// explicit instead of discovering it as SQLITE_BUSY:
//
//   - Every write (Commit, refresh tokens, idempotency keys, outbox marks,
//     migrations) runs on a single dedicated write connection; callers queue
//     for it, so this process's write transactions run one after another.
//   - Write transactions begin with BEGIN IMMEDIATE, taking the file's write
//     lock up front. A second process on the same file (not a supported
//     set-up, but not a corrupting one) waits up to Options.BusyTimeout for
//     the lock at BEGIN instead of failing halfway through a transaction.
//   - Reads run on a separate pool of query_only connections. In WAL mode a
//     read sees a consistent snapshot, readers do not block the writer, and
//     the writer does not block readers.
//
// Because write transactions are serialised, a guard that reads and then
// writes inside one (a driver reservation, a unique e-mail, spending a
// refresh token) cannot be raced by another writer: the invariants that
// Postgres enforces with row locks and constraints hold here by the same
// transaction boundaries (I1, I2, I5).
//
// # Encoding
//
// Timestamps are stored as INTEGER microseconds since the Unix epoch in UTC:
// they sort and compare as numbers and round-trip exactly at Postgres's
// precision (finer digits are truncated). They come back in UTC.
//
// Tests get a fresh, migrated store from sqlitetest.Open.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/outrider/outrider/persistence"
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Logger receives migration progress and close errors. Default
	// slog.Default().
	Logger *slog.Logger
	// BusyTimeout is how long a connection waits for a lock held by
	// another connection before failing with SQLITE_BUSY. Default 5s. In
	// one process the write connection is never contended (see the
	// package doc), so this bounds only waits on another process sharing
	// the file and on WAL checkpoints.
	BusyTimeout time.Duration
	// MaxReadConns bounds the pool of read-only connections. Default
	// max(4, GOMAXPROCS): reads are CPU-bound in a pure-Go SQLite, so
	// more connections than cores buy nothing; each one holds its own
	// page cache, which is why the pool is bounded at all.
	MaxReadConns int
}

// Store is the SQLite persistence.Backend. It is safe for concurrent use.
type Store struct {
	w, r *sql.DB // the one write connection; the read-only pool
	log  *slog.Logger

	migrate sync.Mutex // serialises Migrate calls of this process
}

var _ persistence.Backend = (*Store)(nil)

// Open opens (creating if needed) the database file at path with a write
// connection and a pool of read connections, and checks that WAL mode and
// synchronous=FULL are in force. It does not migrate: call Migrate. The
// directory of path must exist.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.MaxReadConns <= 0 {
		opts.MaxReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}

	// The file holds password hashes and personal data: one this node
	// creates is its owner's alone (SQLite gives the -wal and -shm files
	// the database's mode). An existing file keeps the mode it has.
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		_ = f.Close()
	}
	w, err := sql.Open("sqlite", dsn(path, opts.BusyTimeout, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The write connection is opened first: it switches the file to WAL,
	// which the read-only connections then find in place.
	if err := checkWriter(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", dsn(path, opts.BusyTimeout, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.MaxReadConns)
	r.SetMaxIdleConns(opts.MaxReadConns)
	return &Store{w: w, r: r, log: log}, nil
}

// dsn is the driver's connection string for path. Every connection gets the
// busy timeout, foreign keys and synchronous=FULL (a checkpoint may run on
// whichever connection closes last, so readers sync as fully as the
// writer). The writer also sets WAL mode and begins transactions IMMEDIATE;
// readers are query_only.
func dsn(path string, busy time.Duration, writer bool) string {
	// A "file:" URI, so that '?' or '#' in the path cannot be mistaken
	// for the start of the parameters.
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + esc + "?" + q.Encode()
}

// checkWriter opens the write connection and verifies the settings the
// durability promise rests on: a file system without shared memory, for
// one, cannot run WAL and SQLite would silently stay in rollback mode.
func checkWriter(ctx context.Context, w *sql.DB) error {
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var syncMode, fk int
	if err := w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
		return err
	}
	if err := w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return err
	}
	if syncMode != 2 || fk != 1 {
		return fmt.Errorf("synchronous=%d foreign_keys=%d, want 2 (FULL) and 1", syncMode, fk)
	}
	return nil
}

// Ping checks that both the read pool and the write connection answer.
// It waits for the write connection if a write is in progress.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.r, s.w} {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("ping sqlite: %w", err)
		}
	}
	return nil
}

// Close closes the read pool, then the write connection, which, being the
// last connection to the file, checkpoints the WAL into it. Errors are
// logged: nothing acknowledged depends on them.
func (s *Store) Close() {
	if err := s.r.Close(); err != nil {
		s.log.Warn("close sqlite read pool", "err", err)
	}
	if err := s.w.Close(); err != nil {
		s.log.Warn("close sqlite write connection", "err", err)
	}
}

// write runs fn in one write transaction (BEGIN IMMEDIATE on the write
// connection) and commits it if fn returns nil.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// isUniqueViolation reports whether err is SQLite refusing a duplicate
// primary or unique key.
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

func notFound(what, id string) error {
	return fmt.Errorf("%s %q: %w", what, id, persistence.ErrNotFound)
}

// micros encodes a timestamp as stored: microseconds since the Unix epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros decodes a stored timestamp, in UTC.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicros encodes an optional timestamp (nil is NULL).
func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

// fromNullMicros decodes an optional timestamp.
func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// nonNil keeps NOT NULL BLOB columns happy with empty payloads, and reads
// empty BLOBs back as empty, not nil, as the Postgres backend does.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Package postgres is Outrider's production storage backend: it implements
// persistence.Backend on PostgreSQL through a pgx connection pool.
//
// Start with Open and Store.Commit. Commit is the hot path: it sends every
// statement of a commit as one pgx batch, which Postgres runs as one implicit
// transaction, so a commit costs one network round trip and either all of it
// is durable or none of it is. The guards the actors rely on live in the
// schema (persistence/migrations/postgres): the journal's primary key
// fences stale writers (I5) and reserve_driver with a CHECK constraint
// bounds a driver's load (I2).
//
// Tests get an isolated, migrated schema from pgtest.Open.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/persistence/migrations"
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// MaxConns bounds the pool. Default max(8, 4×GOMAXPROCS): commits are
	// one short round trip each, so a few connections per core keep the
	// server busy, while Postgres's per-connection memory and the
	// server's max_connections (100 by default, shared by every node) are
	// why it is bounded at all.
	MaxConns int32
	// Schema, if set, is created by Migrate when missing and is the only
	// entry of search_path on every connection. Tests use it to get an
	// isolated database per test; production leaves it empty (the URL's
	// default search_path applies).
	Schema string
	// Logger receives migration progress. Default slog.Default().
	Logger *slog.Logger
}

// Store is the Postgres persistence.Backend. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	log    *slog.Logger
}

var _ persistence.Backend = (*Store)(nil)

// Open connects a pool to url (a postgres:// URL or DSN). It does not
// migrate: call Migrate. The server is not contacted until first use, so
// Open succeeds while the database is down; use Ping for readiness.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	return &Store{pool: pool, schema: opts.Schema, log: log}, nil
}

// Pool is the underlying connection pool, for tests and tools that need
// SQL the Backend does not offer. Application code should not need it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for acquired connections to be released.
func (s *Store) Close() { s.pool.Close() }

// Migrate applies the embedded migrations (persistence/migrations/postgres)
// that have not run yet. Nodes starting together are serialised by a Postgres
// advisory lock keyed by the schema, held on a dedicated connection for
// the duration, so each migration runs exactly once.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	key := migrationLockKey(s.schema)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		// A session lock dies with its connection; if unlocking fails,
		// drop the connection rather than return it to the pool locked.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if s.schema != "" {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return fmt.Errorf("migrate: create schema %q: %w", s.schema, err)
		}
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		s.log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration, "schema", s.schema)
	}
	return nil
}

func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("outrider/migrate/" + schema))
	return int64(h.Sum64())
}

// SQLSTATEs raised by reserve_driver (see the migrations).
const (
	codeDriverUnavailable = "OR001"
	codeDriverNotFound    = "OR002"
	codeUniqueViolation   = "23505"
	codeCheckViolation    = "23514"
)

// commitError maps a Postgres error of Commit to the actors' sentinels.
func commitError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("commit: %w", err)
	}
	switch {
	case pgErr.Code == codeDriverUnavailable:
		return fmt.Errorf("commit: %s: %w", pgErr.Message, actors.ErrDriverUnavailable)
	case pgErr.Code == codeDriverNotFound:
		return fmt.Errorf("commit: %s: %w", pgErr.Message, actors.ErrDriverNotFound)
	case pgErr.Code == codeCheckViolation && pgErr.ConstraintName == "drivers_active_orders_check":
		// The constraint is checked on the row as the upsert leaves it,
		// under the row's lock, against the active_orders that
		// reservations committed before it: a DriverRow lowering capacity
		// below them. Reservations and releases never break it
		// (reserve_driver's guard, GREATEST(…, 0)), so this is the one
		// way a commit can.
		return fmt.Errorf("commit: %s: %w", pgErr.Message, actors.ErrCapacityInUse)
	case pgErr.Code == codeUniqueViolation && pgErr.ConstraintName == "users_email_lower_key":
		return fmt.Errorf("commit: %w", actors.ErrEmailTaken)
	case pgErr.Code == codeUniqueViolation:
		// The journal key is the fence (I5); every other unique key of a
		// commit (timeline, outbox, user id) is derived from a journal
		// position, so a duplicate there is the same lost race.
		return fmt.Errorf("commit: duplicate key (%s): %w", pgErr.ConstraintName, actors.ErrConflict)
	}
	return fmt.Errorf("commit: %w", err)
}

func notFound(what, id string) error {
	return fmt.Errorf("%s %q: %w", what, id, persistence.ErrNotFound)
}

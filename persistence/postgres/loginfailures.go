package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/persistence"
)

// This file is persistence.LoginFailures.

func (s *Store) LoginFailuresOf(ctx context.Context, keys []string, after time.Time) (map[string]persistence.LoginFailureCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, failures, last_failure_at FROM login_failures
		WHERE key = ANY($1) AND last_failure_at > $2`, keys, after)
	if err != nil {
		return nil, fmt.Errorf("login failures: %w", err)
	}
	out := map[string]persistence.LoginFailureCount{}
	var key string
	var c persistence.LoginFailureCount
	if _, err := pgx.ForEachRow(rows, []any{&key, &c.Failures, &c.Last}, func() error {
		c.Last = c.Last.UTC()
		out[key] = c
		return nil
	}); err != nil {
		return nil, fmt.Errorf("login failures: %w", err)
	}
	return out, nil
}

func (s *Store) AddLoginFailure(ctx context.Context, keys []string, now, after time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO login_failures (key, failures, last_failure_at)
		SELECT k, 1, $2 FROM unnest($1::text[]) AS k
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN login_failures.last_failure_at <= $3 THEN 1 ELSE login_failures.failures + 1 END,
			last_failure_at = GREATEST(login_failures.last_failure_at, EXCLUDED.last_failure_at)`, keys, now, after)
	if err != nil {
		return fmt.Errorf("add login failure: %w", err)
	}
	return nil
}

func (s *Store) ClearLoginFailures(ctx context.Context, keys []string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = ANY($1)`, keys); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

func (s *Store) TrimLoginFailures(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE key IN (
		SELECT key FROM login_failures WHERE last_failure_at <= $1 ORDER BY last_failure_at LIMIT $2)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("trim login failures: %w", err)
	}
	return tag.RowsAffected(), nil
}

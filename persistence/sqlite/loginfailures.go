package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/outrider/outrider/persistence"
)

// This file is persistence.LoginFailures.

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func keyArgs(keys []string) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out
}

func (s *Store) LoginFailuresOf(ctx context.Context, keys []string, after time.Time) (map[string]persistence.LoginFailureCount, error) {
	out := map[string]persistence.LoginFailureCount{}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT key, failures, last_failure_at FROM login_failures
		WHERE key IN (`+placeholders(len(keys))+`) AND last_failure_at > ?`, append(keyArgs(keys), micros(after))...)
	if err != nil {
		return nil, fmt.Errorf("login failures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var c persistence.LoginFailureCount
		var last int64
		if err := rows.Scan(&key, &c.Failures, &last); err != nil {
			return nil, fmt.Errorf("login failures: %w", err)
		}
		c.Last = fromMicros(last)
		out[key] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("login failures: %w", err)
	}
	return out, nil
}

func (s *Store) AddLoginFailure(ctx context.Context, keys []string, now, after time.Time) error {
	for _, k := range keys {
		if _, err := s.w.ExecContext(ctx, `INSERT INTO login_failures (key, failures, last_failure_at) VALUES (?1, 1, ?2)
			ON CONFLICT (key) DO UPDATE SET
				failures = CASE WHEN last_failure_at <= ?3 THEN 1 ELSE failures + 1 END,
				last_failure_at = max(last_failure_at, excluded.last_failure_at)`, k, micros(now), micros(after)); err != nil {
			return fmt.Errorf("add login failure: %w", err)
		}
	}
	return nil
}

func (s *Store) ClearLoginFailures(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM login_failures WHERE key IN (`+placeholders(len(keys))+`)`, keyArgs(keys)...); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

func (s *Store) TrimLoginFailures(ctx context.Context, before time.Time, limit int) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM login_failures WHERE key IN (
		SELECT key FROM login_failures WHERE last_failure_at <= ? ORDER BY last_failure_at LIMIT ?)`, micros(before), limit)
	if err != nil {
		return 0, fmt.Errorf("trim login failures: %w", err)
	}
	return res.RowsAffected()
}

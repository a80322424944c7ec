package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/outrider/outrider/persistence"
)

// This file is persistence.Retention: each trim deletes the oldest
// matching rows, at most limit, through the index of migration 00013.

var _ persistence.Retention = (*Store)(nil)

func (s *Store) trimOldest(ctx context.Context, what, sql string, before time.Time, limit int) (int64, error) {
	res, err := s.w.ExecContext(ctx, sql, micros(before), limit)
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", what, err)
	}
	return res.RowsAffected()
}

func (s *Store) TrimLocationHistory(ctx context.Context, before time.Time, limit int) (int64, error) {
	return s.trimOldest(ctx, "location history", `DELETE FROM location_history WHERE rowid IN (
		SELECT rowid FROM location_history WHERE at < ?1 ORDER BY at LIMIT ?2)`, before, limit)
}

func (s *Store) TrimReadNotifications(ctx context.Context, before time.Time, limit int) (int64, error) {
	return s.trimOldest(ctx, "read notifications", `DELETE FROM notifications WHERE id IN (
		SELECT id FROM notifications WHERE read_at IS NOT NULL AND read_at < ?1 ORDER BY read_at LIMIT ?2)`, before, limit)
}

func (s *Store) TrimRefreshTokens(ctx context.Context, before time.Time, limit int) (int64, error) {
	return s.trimOldest(ctx, "refresh tokens", `DELETE FROM refresh_tokens WHERE hash IN (
		SELECT hash FROM refresh_tokens WHERE expires_at < ?1 OR revoked_at < ?1 LIMIT ?2)`, before, limit)
}

func (s *Store) TrimIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int64, error) {
	return s.trimOldest(ctx, "idempotency keys", `DELETE FROM idempotency_keys WHERE (scope, key) IN (
		SELECT scope, key FROM idempotency_keys WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)`, before, limit)
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/persistence"
)

// RefreshTokensOf returns a user's refresh-token metadata (see
// persistence.PersonalData).
func (s *Store) RefreshTokensOf(ctx context.Context, id string, limit int) ([]persistence.RefreshTokenInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT family_id, created_at, expires_at, used_at, revoked_at FROM refresh_tokens
		WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("refresh tokens of %s: %w", id, err)
	}
	out := []persistence.RefreshTokenInfo{}
	var t persistence.RefreshTokenInfo
	if _, err := pgx.ForEachRow(rows, []any{&t.FamilyID, &t.CreatedAt, &t.ExpiresAt, &t.UsedAt, &t.RevokedAt}, func() error {
		out = append(out, persistence.RefreshTokenInfo{FamilyID: t.FamilyID, CreatedAt: t.CreatedAt.UTC(),
			ExpiresAt: t.ExpiresAt.UTC(), UsedAt: utc(t.UsedAt), RevokedAt: utc(t.RevokedAt)})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("refresh tokens of %s: %w", id, err)
	}
	return out, nil
}

// IdempotencyKeysOf returns a scope's Idempotency-Key records (see
// persistence.PersonalData).
func (s *Store) IdempotencyKeysOf(ctx context.Context, scope string, limit int) ([]persistence.IdempotencyKeyInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, status, created_at FROM idempotency_keys
		WHERE scope = $1 ORDER BY created_at DESC LIMIT $2`, scope, limit)
	if err != nil {
		return nil, fmt.Errorf("idempotency keys of %s: %w", scope, err)
	}
	out := []persistence.IdempotencyKeyInfo{}
	var k persistence.IdempotencyKeyInfo
	var status *int32
	if _, err := pgx.ForEachRow(rows, []any{&k.Key, &status, &k.CreatedAt}, func() error {
		i := persistence.IdempotencyKeyInfo{Key: k.Key, CreatedAt: k.CreatedAt.UTC()}
		if status != nil {
			v := int(*status)
			i.Status = &v
		}
		out = append(out, i)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("idempotency keys of %s: %w", scope, err)
	}
	return out, nil
}

// PasswordResetsOf returns a user's password reset metadata (see
// persistence.PersonalData).
func (s *Store) PasswordResetsOf(ctx context.Context, id string, limit int) ([]persistence.PasswordResetInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT created_at, expires_at, used_at FROM password_resets
		WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("password resets of %s: %w", id, err)
	}
	out := []persistence.PasswordResetInfo{}
	var r persistence.PasswordResetInfo
	if _, err := pgx.ForEachRow(rows, []any{&r.CreatedAt, &r.ExpiresAt, &r.UsedAt}, func() error {
		out = append(out, persistence.PasswordResetInfo{CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), UsedAt: utc(r.UsedAt)})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("password resets of %s: %w", id, err)
	}
	return out, nil
}

// LoginFailuresMatching returns the failed-login counts of an account
// (see persistence.PersonalData).
func (s *Store) LoginFailuresMatching(ctx context.Context, account string) (map[string]persistence.LoginFailureCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, failures, last_failure_at FROM login_failures
		WHERE starts_with(substr(key, strpos(key, ':') + 1) || '|', $1 || '|')
		ORDER BY last_failure_at DESC LIMIT $2`, account, persistence.MaxLoginFailuresOf)
	if err != nil {
		return nil, fmt.Errorf("login failures of %s: %w", account, err)
	}
	out := map[string]persistence.LoginFailureCount{}
	var key string
	var c persistence.LoginFailureCount
	if _, err := pgx.ForEachRow(rows, []any{&key, &c.Failures, &c.Last}, func() error {
		out[key] = persistence.LoginFailureCount{Failures: c.Failures, Last: c.Last.UTC()}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("login failures of %s: %w", account, err)
	}
	return out, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

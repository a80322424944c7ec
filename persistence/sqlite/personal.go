package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/outrider/outrider/persistence"
)

// RefreshTokensOf returns a user's refresh-token metadata (see
// persistence.PersonalData).
func (s *Store) RefreshTokensOf(ctx context.Context, id string, limit int) ([]persistence.RefreshTokenInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT family_id, created_at, expires_at, used_at, revoked_at FROM refresh_tokens
		WHERE user_id = ? ORDER BY created_at DESC LIMIT ?`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("refresh tokens of %s: %w", id, err)
	}
	defer rows.Close()
	out := []persistence.RefreshTokenInfo{}
	for rows.Next() {
		var t persistence.RefreshTokenInfo
		var created, expires int64
		var used, revoked sql.NullInt64
		if err := rows.Scan(&t.FamilyID, &created, &expires, &used, &revoked); err != nil {
			return nil, fmt.Errorf("refresh tokens of %s: %w", id, err)
		}
		t.CreatedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = fromMicros(created), fromMicros(expires), optMicros(used), optMicros(revoked)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("refresh tokens of %s: %w", id, err)
	}
	return out, nil
}

// IdempotencyKeysOf returns a scope's Idempotency-Key records (see
// persistence.PersonalData).
func (s *Store) IdempotencyKeysOf(ctx context.Context, scope string, limit int) ([]persistence.IdempotencyKeyInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, status, created_at FROM idempotency_keys
		WHERE scope = ? ORDER BY created_at DESC LIMIT ?`, scope, limit)
	if err != nil {
		return nil, fmt.Errorf("idempotency keys of %s: %w", scope, err)
	}
	defer rows.Close()
	out := []persistence.IdempotencyKeyInfo{}
	for rows.Next() {
		var k persistence.IdempotencyKeyInfo
		var status sql.NullInt64
		var created int64
		if err := rows.Scan(&k.Key, &status, &created); err != nil {
			return nil, fmt.Errorf("idempotency keys of %s: %w", scope, err)
		}
		if status.Valid {
			v := int(status.Int64)
			k.Status = &v
		}
		k.CreatedAt = fromMicros(created)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("idempotency keys of %s: %w", scope, err)
	}
	return out, nil
}

// PasswordResetsOf returns a user's password reset metadata (see
// persistence.PersonalData).
func (s *Store) PasswordResetsOf(ctx context.Context, id string, limit int) ([]persistence.PasswordResetInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT created_at, expires_at, used_at FROM password_resets
		WHERE user_id = ? ORDER BY created_at DESC LIMIT ?`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("password resets of %s: %w", id, err)
	}
	defer rows.Close()
	out := []persistence.PasswordResetInfo{}
	for rows.Next() {
		var r persistence.PasswordResetInfo
		var created, expires int64
		var used sql.NullInt64
		if err := rows.Scan(&created, &expires, &used); err != nil {
			return nil, fmt.Errorf("password resets of %s: %w", id, err)
		}
		r.CreatedAt, r.ExpiresAt, r.UsedAt = fromMicros(created), fromMicros(expires), optMicros(used)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("password resets of %s: %w", id, err)
	}
	return out, nil
}

// LoginFailuresMatching returns the failed-login counts of an account
// (see persistence.PersonalData).
func (s *Store) LoginFailuresMatching(ctx context.Context, account string) (map[string]persistence.LoginFailureCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, failures, last_failure_at FROM login_failures
		WHERE substr(substr(key, instr(key, ':') + 1) || '|', 1, length(?1 || '|')) = ?1 || '|'
		ORDER BY last_failure_at DESC LIMIT ?2`, account, persistence.MaxLoginFailuresOf)
	if err != nil {
		return nil, fmt.Errorf("login failures of %s: %w", account, err)
	}
	defer rows.Close()
	out := map[string]persistence.LoginFailureCount{}
	for rows.Next() {
		var key string
		var n int
		var last int64
		if err := rows.Scan(&key, &n, &last); err != nil {
			return nil, fmt.Errorf("login failures of %s: %w", account, err)
		}
		out[key] = persistence.LoginFailureCount{Failures: n, Last: fromMicros(last)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("login failures of %s: %w", account, err)
	}
	return out, nil
}

func optMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/persistence"
)

// CreatePasswordReset stores r unless its user got one after since (see
// persistence.PasswordResets).
func (s *Store) CreatePasswordReset(ctx context.Context, r persistence.PasswordReset, since time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO password_resets (hash, user_id, created_at, expires_at)
		SELECT $1, $2, $3, $4
		 WHERE NOT EXISTS (SELECT 1 FROM password_resets WHERE user_id = $2 AND created_at > $5)`,
		r.Hash, r.UserID, r.CreatedAt, r.ExpiresAt, since)
	if err != nil {
		return false, fmt.Errorf("create password reset: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PasswordResetUser returns the user of a live token (see
// persistence.PasswordResets).
func (s *Store) PasswordResetUser(ctx context.Context, hash string, now time.Time) (string, error) {
	var user string
	err := s.pool.QueryRow(ctx, `SELECT user_id FROM password_resets
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2`, hash, now).Scan(&user)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", persistence.ErrResetTokenInvalid
	}
	if err != nil {
		return "", fmt.Errorf("password reset: %w", err)
	}
	return user, nil
}

// SpendPasswordReset spends a live token and its user's others (see
// persistence.PasswordResets). Two spends of one token: the second waits
// for the first's row lock, then finds used_at set and updates nothing.
func (s *Store) SpendPasswordReset(ctx context.Context, hash string, now time.Time) (string, error) {
	var user string
	err := s.pool.QueryRow(ctx, `WITH spent AS (
			UPDATE password_resets SET used_at = $2
			 WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id
		), others AS (
			UPDATE password_resets p SET used_at = $2 FROM spent
			 WHERE p.user_id = spent.user_id AND p.hash <> $1 AND p.used_at IS NULL
		)
		SELECT user_id FROM spent`, hash, now).Scan(&user)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", persistence.ErrResetTokenInvalid
	}
	if err != nil {
		return "", fmt.Errorf("spend password reset: %w", err)
	}
	return user, nil
}

// TrimPasswordResets deletes the tokens expired or spent before before.
func (s *Store) TrimPasswordResets(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM password_resets WHERE hash IN (
		SELECT hash FROM password_resets WHERE expires_at < $1 OR used_at < $1 LIMIT $2)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("trim password resets: %w", err)
	}
	return tag.RowsAffected(), nil
}

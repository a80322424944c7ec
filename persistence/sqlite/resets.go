package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/outrider/outrider/persistence"
)

// CreatePasswordReset stores r unless its user got one after since (see
// persistence.PasswordResets).
func (s *Store) CreatePasswordReset(ctx context.Context, r persistence.PasswordReset, since time.Time) (bool, error) {
	var created bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO password_resets (hash, user_id, created_at, expires_at)
			SELECT ?1, ?2, ?3, ?4
			 WHERE NOT EXISTS (SELECT 1 FROM password_resets WHERE user_id = ?2 AND created_at > ?5)`,
			r.Hash, r.UserID, micros(r.CreatedAt), micros(r.ExpiresAt), micros(since))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		created = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("create password reset: %w", err)
	}
	return created, nil
}

// PasswordResetUser returns the user of a live token (see
// persistence.PasswordResets).
func (s *Store) PasswordResetUser(ctx context.Context, hash string, now time.Time) (string, error) {
	var user string
	err := s.r.QueryRowContext(ctx, `SELECT user_id FROM password_resets
		WHERE hash = ? AND used_at IS NULL AND expires_at > ?`, hash, micros(now)).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", persistence.ErrResetTokenInvalid
	}
	if err != nil {
		return "", fmt.Errorf("password reset: %w", err)
	}
	return user, nil
}

// SpendPasswordReset spends a live token and its user's others (see
// persistence.PasswordResets); the write transaction is the file's only
// writer, so of two spends of one token the second finds it spent.
func (s *Store) SpendPasswordReset(ctx context.Context, hash string, now time.Time) (string, error) {
	var user string
	err := s.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE password_resets SET used_at = ?2
			WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2 RETURNING user_id`, hash, micros(now)).Scan(&user)
		if errors.Is(err, sql.ErrNoRows) {
			return persistence.ErrResetTokenInvalid
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE password_resets SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL`,
			user, micros(now))
		return err
	})
	if errors.Is(err, persistence.ErrResetTokenInvalid) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("spend password reset: %w", err)
	}
	return user, nil
}

// TrimPasswordResets deletes the tokens expired or spent before before.
func (s *Store) TrimPasswordResets(ctx context.Context, before time.Time, limit int) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM password_resets WHERE hash IN (
			SELECT hash FROM password_resets WHERE expires_at < ?1 OR used_at < ?1 LIMIT ?2)`, micros(before), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("trim password resets: %w", err)
	}
	return n, nil
}

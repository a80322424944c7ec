package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/outrider/outrider/persistence"
)

// CreateRefreshToken stores a new refresh token (the first of a family at
// login).
func (s *Store) CreateRefreshToken(ctx context.Context, t persistence.RefreshToken) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, user_id, family_id, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?)`, t.Hash, t.UserID, t.FamilyID, micros(t.ExpiresAt), micros(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// RotateRefreshToken spends the token old and stores next in its family
// (next.UserID and next.FamilyID are taken from the spent token), in one
// write transaction: of concurrent rotations of one token exactly one
// spends it, and the others find it spent. A token presented after it was
// spent revokes its whole family and returns persistence.ErrTokenReused;
// an unknown, expired or revoked one returns persistence.ErrTokenInvalid.
// now decides expiry and stamps the spend.
func (s *Store) RotateRefreshToken(ctx context.Context, old string, next persistence.RefreshToken, now time.Time) (persistence.RefreshToken, error) {
	var (
		spent   persistence.RefreshToken
		outcome error // ErrTokenReused or ErrTokenInvalid, after the transaction commits
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var (
			expiresAt, createdAt int64
			used, revoked        sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT hash, user_id, family_id, expires_at, created_at, used_at, revoked_at
			FROM refresh_tokens WHERE hash = ?`, old).
			Scan(&spent.Hash, &spent.UserID, &spent.FamilyID, &expiresAt, &createdAt, &used, &revoked)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			outcome = persistence.ErrTokenInvalid
			return nil
		case err != nil:
			return err
		case used.Valid:
			// Reuse of a spent token: theft suspected, the family dies,
			// and that must be committed even though the call fails.
			outcome = persistence.ErrTokenReused
			_, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
				WHERE family_id = ? AND revoked_at IS NULL`, micros(now), spent.FamilyID)
			return err
		case revoked.Valid || expiresAt <= micros(now):
			outcome = persistence.ErrTokenInvalid
			return nil
		}
		spent.ExpiresAt, spent.CreatedAt = fromMicros(expiresAt), fromMicros(createdAt)
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE hash = ?`,
			micros(now), old); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, user_id, family_id, expires_at, created_at)
			VALUES (?, ?, ?, ?, ?)`, next.Hash, spent.UserID, spent.FamilyID, micros(next.ExpiresAt), micros(next.CreatedAt))
		return err
	})
	if err != nil {
		return persistence.RefreshToken{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	switch outcome {
	case nil:
		return spent, nil
	case persistence.ErrTokenReused:
		return persistence.RefreshToken{Hash: old, UserID: spent.UserID, FamilyID: spent.FamilyID}, outcome
	}
	return persistence.RefreshToken{}, outcome
}

// RevokeRefreshFamily revokes every token of the family of the token hash,
// if that token belongs to userID (logout). Unknown tokens are no error.
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
		WHERE user_id = ? AND revoked_at IS NULL`, micros(now), userID); err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", err)
	}
	return nil
}

func (s *Store) RevokeRefreshFamily(ctx context.Context, hash, userID string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
		WHERE revoked_at IS NULL AND family_id =
			(SELECT family_id FROM refresh_tokens WHERE hash = ? AND user_id = ?)`,
		micros(time.Now()), hash, userID)
	if err != nil {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return nil
}

// IdempotencyClaimTimeout is how long a claim may stay in progress before
// a repeat of the same request takes it over; IdempotencyRetention is how
// long a key is remembered at all. The same values as the Postgres backend.
const (
	IdempotencyClaimTimeout = time.Minute
	IdempotencyRetention    = 24 * time.Hour
)

// BeginIdempotent claims (scope, key) for a request hashing to
// requestHash. It returns (nil, nil) for a new claim; the stored response
// when the same request completed; persistence.ErrIdempotencyInProgress
// while it runs; persistence.ErrIdempotencyMismatch for another request.
// A claim still in progress after IdempotencyClaimTimeout (its node died
// mid-request) is taken over by the same request; a key older than
// IdempotencyRetention starts afresh. The read and the claim share one
// write transaction, so two requests never both claim a key.
func (s *Store) BeginIdempotent(ctx context.Context, scope, key, requestHash, owner string, now time.Time) (*persistence.IdempotentResponse, error) {
	var (
		resp    *persistence.IdempotentResponse
		outcome error
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var (
			hash      string
			status    sql.NullInt64
			header    sql.NullString
			body      []byte
			createdAt int64
		)
		err := tx.QueryRowContext(ctx, `SELECT request_hash, status, header, body, created_at
			FROM idempotency_keys WHERE scope = ? AND key = ?`, scope, key).
			Scan(&hash, &status, &header, &body, &createdAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// New key: claim it below.
		case err != nil:
			return err
		case createdAt < micros(now.Add(-IdempotencyRetention)),
			!status.Valid && hash == requestHash && createdAt < micros(now.Add(-IdempotencyClaimTimeout)):
			// Forgotten, or abandoned by the same request: claim anew.
		case hash != requestHash:
			outcome = persistence.ErrIdempotencyMismatch
			return nil
		case !status.Valid:
			outcome = persistence.ErrIdempotencyInProgress
			return nil
		default:
			resp = &persistence.IdempotentResponse{Status: int(status.Int64), Body: nonNil(body)}
			if err := json.Unmarshal([]byte(header.String), &resp.Header); err != nil {
				return fmt.Errorf("decode stored header: %w", err)
			}
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, created_at, owner)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, key) DO UPDATE
			SET request_hash = excluded.request_hash, created_at = excluded.created_at,
			    status = NULL, header = NULL, body = NULL, owner = excluded.owner`, scope, key, requestHash, micros(now), owner)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("begin idempotent: %w", err)
	}
	return resp, outcome
}

// CompleteIdempotent stores the response of a claimed key; a key not
// claimed returns an error wrapping persistence.ErrNotFound.
func (s *Store) CompleteIdempotent(ctx context.Context, scope, key string, resp persistence.IdempotentResponse) error {
	header := resp.Header
	if header == nil {
		header = map[string]string{}
	}
	h, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("complete idempotent: encode header: %w", err)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, header = ?, body = ?
		WHERE scope = ? AND key = ?`, resp.Status, string(h), nonNil(resp.Body), scope, key)
	if err != nil {
		return fmt.Errorf("complete idempotent: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("complete idempotent: %w", err)
	} else if n == 0 {
		return notFound("idempotency key", key)
	}
	return nil
}

// ReleaseIdempotent drops an in-progress claim so the key can be used
// again; a completed key is kept.
func (s *Store) ReleaseIdempotent(ctx context.Context, scope, key string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL`, scope, key)
	if err != nil {
		return fmt.Errorf("release idempotent: %w", err)
	}
	return nil
}

// ReleaseIdempotencyClaims drops the claims in progress that owner made.
func (s *Store) ReleaseIdempotencyClaims(ctx context.Context, owner string) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE owner = ? AND status IS NULL`, owner)
	if err != nil {
		return 0, fmt.Errorf("release idempotency claims of %s: %w", owner, err)
	}
	return res.RowsAffected()
}

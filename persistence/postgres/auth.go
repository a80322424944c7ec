package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/persistence"
)

// CreateRefreshToken stores a new refresh token (the first of a family at
// login).
func (s *Store) CreateRefreshToken(ctx context.Context, t persistence.RefreshToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO refresh_tokens (hash, user_id, family_id, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5)`, t.Hash, t.UserID, t.FamilyID, t.ExpiresAt, t.CreatedAt)
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// sqlRotate spends the old token and inserts its successor in one
// statement: the successor inherits the spent token's user and family, and
// exists only if the spend succeeded. Of concurrent rotations of one token
// exactly one spends it; the row lock makes the others see it spent.
const sqlRotate = `
WITH spent AS (
	UPDATE refresh_tokens SET used_at = $2
	 WHERE hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
	RETURNING hash, user_id, family_id, expires_at, created_at
), next AS (
	INSERT INTO refresh_tokens (hash, user_id, family_id, expires_at, created_at)
	SELECT $3, user_id, family_id, $4, $5 FROM spent
)
SELECT hash, user_id, family_id, expires_at, created_at FROM spent`

// RotateRefreshToken spends the token old and stores next in its family
// (next.UserID and next.FamilyID are taken from the spent token). A token
// presented after it was spent revokes its whole family and returns
// persistence.ErrTokenReused; an unknown, expired or revoked one returns
// persistence.ErrTokenInvalid. now decides expiry and stamps the spend.
func (s *Store) RotateRefreshToken(ctx context.Context, old string, next persistence.RefreshToken, now time.Time) (persistence.RefreshToken, error) {
	var t persistence.RefreshToken
	err := s.pool.QueryRow(ctx, sqlRotate, old, now, next.Hash, next.ExpiresAt, next.CreatedAt).
		Scan(&t.Hash, &t.UserID, &t.FamilyID, &t.ExpiresAt, &t.CreatedAt)
	if err == nil {
		t.ExpiresAt, t.CreatedAt = t.ExpiresAt.UTC(), t.CreatedAt.UTC()
		return t, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("rotate refresh token: %w", err)
	}
	var (
		family, user string
		used         *time.Time
	)
	err = s.pool.QueryRow(ctx, `SELECT family_id, user_id, used_at FROM refresh_tokens WHERE hash = $1`, old).Scan(&family, &user, &used)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return t, persistence.ErrTokenInvalid
	case err != nil:
		return t, fmt.Errorf("rotate refresh token: %w", err)
	case used == nil:
		return t, persistence.ErrTokenInvalid // expired or revoked
	}
	if _, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2
		WHERE family_id = $1 AND revoked_at IS NULL`, family, now); err != nil {
		return t, fmt.Errorf("revoke reused refresh token family: %w", err)
	}
	t.Hash, t.UserID, t.FamilyID = old, user, family
	return t, persistence.ErrTokenReused
}

// RevokeRefreshFamily revokes every token of the family of the token hash,
// if that token belongs to userID (logout). Unknown tokens are no error.
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2
		WHERE user_id = $1 AND revoked_at IS NULL`, userID, now); err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", err)
	}
	return nil
}

func (s *Store) RevokeRefreshFamily(ctx context.Context, hash, userID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now()
		WHERE revoked_at IS NULL AND family_id =
			(SELECT family_id FROM refresh_tokens WHERE hash = $1 AND user_id = $2)`, hash, userID)
	if err != nil {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return nil
}

// IdempotencyClaimTimeout is how long a claim may stay in progress before
// a repeat of the same request takes it over; IdempotencyRetention is how
// long a key is remembered at all.
const (
	IdempotencyClaimTimeout = time.Minute
	IdempotencyRetention    = 24 * time.Hour
)

// BeginIdempotent claims (scope, key) for a request hashing to
// requestHash. It returns (nil, nil) for a new claim; the stored response
// when the same request completed; persistence.ErrIdempotencyInProgress
// while it runs; persistence.ErrIdempotencyMismatch for another request.
// A claim still in progress after IdempotencyClaimTimeout (its node died
// mid-request) is taken over by the same request; that is safe because the
// command id derives from the key, so the actors apply it once. A key older
// than IdempotencyRetention starts afresh, as with Stripe's 24 hours.
func (s *Store) BeginIdempotent(ctx context.Context, scope, key, requestHash, owner string, now time.Time) (*persistence.IdempotentResponse, error) {
	// A claim released between our insert and select makes the select
	// miss; a few attempts settle any realistic race.
	for range 3 {
		tag, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys AS k (scope, key, request_hash, created_at, owner)
			VALUES ($1, $2, $3, $4, $7) ON CONFLICT (scope, key) DO UPDATE
			SET request_hash = EXCLUDED.request_hash, created_at = EXCLUDED.created_at,
			    status = NULL, header = NULL, body = NULL, owner = EXCLUDED.owner
			WHERE k.created_at < $6
			   OR (k.status IS NULL AND k.request_hash = EXCLUDED.request_hash AND k.created_at < $5)`,
			scope, key, requestHash, now, now.Add(-IdempotencyClaimTimeout), now.Add(-IdempotencyRetention), owner)
		if err != nil {
			return nil, fmt.Errorf("begin idempotent: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return nil, nil
		}
		var (
			hash   string
			status *int
			header map[string]string
			body   []byte
		)
		err = s.pool.QueryRow(ctx, `SELECT request_hash, status, header, body FROM idempotency_keys
			WHERE scope = $1 AND key = $2`, scope, key).Scan(&hash, &status, &header, &body)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("begin idempotent: %w", err)
		}
		switch {
		case hash != requestHash:
			return nil, persistence.ErrIdempotencyMismatch
		case status == nil:
			return nil, persistence.ErrIdempotencyInProgress
		}
		return &persistence.IdempotentResponse{Status: *status, Header: header, Body: body}, nil
	}
	return nil, fmt.Errorf("begin idempotent: key %q keeps being released: %w", key, persistence.ErrIdempotencyInProgress)
}

// CompleteIdempotent stores the response of a claimed key; a key not
// claimed returns an error wrapping persistence.ErrNotFound.
func (s *Store) CompleteIdempotent(ctx context.Context, scope, key string, resp persistence.IdempotentResponse) error {
	header := resp.Header
	if header == nil {
		header = map[string]string{}
	}
	tag, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET status = $3, header = $4, body = $5
		WHERE scope = $1 AND key = $2`, scope, key, resp.Status, header, nonNil(resp.Body))
	if err != nil {
		return fmt.Errorf("complete idempotent: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("idempotency key", key)
	}
	return nil
}

// ReleaseIdempotencyClaims drops the claims in progress that owner made.
func (s *Store) ReleaseIdempotencyClaims(ctx context.Context, owner string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE owner = $1 AND status IS NULL`, owner)
	if err != nil {
		return 0, fmt.Errorf("release idempotency claims of %s: %w", owner, err)
	}
	return tag.RowsAffected(), nil
}

// ReleaseIdempotent drops an in-progress claim so the key can be used
// again; a completed key is kept.
func (s *Store) ReleaseIdempotent(ctx context.Context, scope, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL`, scope, key)
	if err != nil {
		return fmt.Errorf("release idempotent: %w", err)
	}
	return nil
}

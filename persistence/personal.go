package persistence

import (
	"context"
	"time"
)

// PersonalData reads, for GET /v1/users/:id/export, what the tables beside
// the read model hold about one user: never a secret (no token, no hash,
// no stored answer), only what says when and from where.
type PersonalData interface {
	// RefreshTokensOf returns the metadata of user id's refresh tokens,
	// newest first, at most limit.
	RefreshTokensOf(ctx context.Context, id string, limit int) ([]RefreshTokenInfo, error)
	// IdempotencyKeysOf returns the Idempotency-Key records of scope (a
	// user id), newest first, at most limit.
	IdempotencyKeysOf(ctx context.Context, scope string, limit int) ([]IdempotencyKeyInfo, error)
	// PasswordResetsOf returns the metadata of user id's password reset
	// tokens, newest first, at most limit.
	PasswordResetsOf(ctx context.Context, id string, limit int) ([]PasswordResetInfo, error)
	// LoginFailuresMatching returns the failed-login counts whose key is
	// account's: "<kind>:<account>" or "<kind>:<account>|<address>",
	// whatever the kind (transport/httpapi/throttle.go), the newest
	// MaxLoginFailuresOf.
	LoginFailuresMatching(ctx context.Context, account string) (map[string]LoginFailureCount, error)
}

// MaxLoginFailuresOf bounds LoginFailuresMatching: an account attacked
// from many addresses has a count per address.
const MaxLoginFailuresOf = 10_000

// RefreshTokenInfo is what an export shows of a refresh token.
type RefreshTokenInfo struct {
	FamilyID  string     `json:"family_id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// IdempotencyKeyInfo is what an export shows of an Idempotency-Key record.
type IdempotencyKeyInfo struct {
	Key       string    `json:"key"`
	Status    *int      `json:"status"` // nil while the first request runs
	CreatedAt time.Time `json:"created_at"`
}

// PasswordResetInfo is what an export shows of a password reset token.
type PasswordResetInfo struct {
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at"`
}

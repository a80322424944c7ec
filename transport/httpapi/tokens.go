package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/outrider/outrider/internal/password"
	"github.com/outrider/outrider/problem"
)

// claims are the access token's claims: sub, role, exp, iat, iss, aud;
// the key id travels in the header's kid.
type claims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

func init() {
	// Access tokens carry iat (and exp) in milliseconds, not whole seconds:
	// logout revokes the tokens issued before it, and a login in the same
	// second must not be caught by that. RFC 7519 NumericDates may be
	// fractional; golang-jwt reads them either way.
	jwt.TimePrecision = time.Millisecond
}

// Principal is the authenticated caller.
type Principal struct {
	UserID string
	Role   string
	// IssuedAt is when the access token was issued (the gateway refuses
	// tokens issued before the user's sessions were revoked).
	IssuedAt time.Time
}

// tokenIssuer signs and verifies access tokens (HS256, algorithm pinned).
type tokenIssuer struct {
	key      []byte
	kid      string
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
}

func newTokenIssuer(key []byte, issuer, audience string, ttl time.Duration, now func() time.Time) *tokenIssuer {
	sum := sha256.Sum256(key)
	return &tokenIssuer{
		key: key, kid: hex.EncodeToString(sum[:4]), issuer: issuer, audience: audience, ttl: ttl, now: now,
		// golang-jwt accepts a token without exp unless told otherwise,
		// and any algorithm the key fits: pin both, and iss/aud.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithLeeway(30*time.Second),
			jwt.WithTimeFunc(now),
		),
	}
}

func (t *tokenIssuer) issue(p Principal) (string, error) {
	now := t.now()
	c := claims{Role: p.Role, RegisteredClaims: jwt.RegisteredClaims{
		Subject: p.UserID, Issuer: t.issuer, Audience: jwt.ClaimStrings{t.audience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
	}}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = t.kid
	return tok.SignedString(t.key)
}

// verify checks signature, algorithm, kid, exp, iat, iss and aud.
func (t *tokenIssuer) verify(raw string) (Principal, error) {
	var c claims
	_, err := t.parser.ParseWithClaims(raw, &c, func(tok *jwt.Token) (any, error) {
		if kid, _ := tok.Header["kid"].(string); kid != t.kid {
			return nil, errors.New("unknown key id")
		}
		return t.key, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Principal{}, errorf(problem.TokenExpired, "the access token has expired; refresh it")
	case err != nil:
		return Principal{}, newError(problem.Unauthorized, "the access token is not valid").because(err)
	}
	switch c.Role {
	case "customer", "driver", "admin":
	default:
		return Principal{}, errorf(problem.Unauthorized, "the access token has no valid role")
	}
	if c.Subject == "" {
		return Principal{}, errorf(problem.Unauthorized, "the access token has no subject")
	}
	p := Principal{UserID: c.Subject, Role: c.Role}
	if c.IssuedAt != nil {
		p.IssuedAt = c.IssuedAt.Time
	}
	return p, nil
}

// newRefreshToken returns an opaque refresh token and the hash stored
// for it. Only the hash is kept: a leaked table holds no usable tokens.
func newRefreshToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// passwordHasher hashes and checks passwords the one way they are stored
// (package password), at most `slots` at a time: a burst of logins queues
// instead of starving the node's CPUs, and waits at most `wait` in that
// queue.
type passwordHasher struct {
	cost  int
	slots chan struct{}
	wait  time.Duration
	dummy string // compared against for unknown users, to equalise timing
}

func newPasswordHasher(cost, concurrent int, wait time.Duration) *passwordHasher {
	h := &passwordHasher{cost: cost, slots: make(chan struct{}, concurrent), wait: wait}
	h.dummy, _ = password.Hash("outrider-timing-equaliser", cost)
	return h
}

// acquire takes a hashing slot, waiting at most h.wait (or until ctx
// ends): beyond that the queue is long, and the caller is told to come
// back (503, Retry-After) rather than kept waiting behind it.
func (h *passwordHasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return newError(problem.Unavailable, "too many password checks in progress; retry shortly").retryAfter(1)
	case <-ctx.Done():
		return newError(problem.Unavailable, "too many password checks in progress").retryAfter(1).because(ctx.Err())
	}
}

func (h *passwordHasher) hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-h.slots }()
	return password.Hash(pw, h.cost)
}

// check compares pw with hash; an empty hash (unknown user) is
// compared against a dummy so both cases take the same time.
func (h *passwordHasher) check(ctx context.Context, hash, pw string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-h.slots }()
	if hash == "" {
		_ = password.Matches(h.dummy, pw)
		return false, nil
	}
	return password.Matches(hash, pw), nil
}

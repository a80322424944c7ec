package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence"
)

func testAuth(t *testing.T, open func(t *testing.T) persistence.Backend) {
	token := func(hash, family string) persistence.RefreshToken {
		return persistence.RefreshToken{Hash: hash, UserID: "u1", FamilyID: family,
			ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
	}

	t.Run("RotationAndReuse", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		require.NoError(t, b.CreateRefreshToken(ctx, token("t1", "f1")))
		require.NoError(t, b.CreateRefreshToken(ctx, token("other", "f2")))

		spent, err := b.RotateRefreshToken(ctx, "t1", persistence.RefreshToken{Hash: "t2",
			ExpiresAt: t0.Add(2 * time.Hour), CreatedAt: t0.Add(time.Minute)}, t0.Add(time.Minute))
		require.NoError(t, err)
		require.Equal(t, token("t1", "f1"), spent)
		spent, err = b.RotateRefreshToken(ctx, "t2", token("t3", "f1"), t0.Add(2*time.Minute))
		require.NoError(t, err)
		require.Equal(t, "f1", spent.FamilyID, "the successor joined the family")
		require.Equal(t, "u1", spent.UserID)

		// t1 presented again: theft suspected, the whole family dies.
		reused, err := b.RotateRefreshToken(ctx, "t1", token("t4", "f1"), t0.Add(3*time.Minute))
		require.ErrorIs(t, err, persistence.ErrTokenReused)
		require.Equal(t, "u1", reused.UserID, "whose tokens to revoke")
		require.Equal(t, "f1", reused.FamilyID)
		_, err = b.RotateRefreshToken(ctx, "t3", token("t5", "f1"), t0.Add(3*time.Minute))
		require.ErrorIs(t, err, persistence.ErrTokenInvalid)
		// Other families are untouched.
		_, err = b.RotateRefreshToken(ctx, "other", token("other2", "f2"), t0.Add(3*time.Minute))
		require.NoError(t, err)
	})

	t.Run("InvalidTokens", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		require.NoError(t, b.CreateRefreshToken(ctx, token("t1", "f1")))
		require.NoError(t, b.CreateRefreshToken(ctx, token("t2", "f2")))
		tests := []struct {
			name string
			hash string
			now  time.Time
		}{
			{"unknown", "nope", t0},
			{"expired", "t1", t0.Add(time.Hour)},
		}
		for _, tt := range tests {
			_, err := b.RotateRefreshToken(ctx, tt.hash, token("n-"+tt.name, "f1"), tt.now)
			require.ErrorIs(t, err, persistence.ErrTokenInvalid, tt.name)
		}
		// Logout: only the owner can revoke; unknown tokens are fine.
		require.NoError(t, b.RevokeRefreshFamily(ctx, "t2", "someone-else"))
		require.NoError(t, b.RevokeRefreshFamily(ctx, "nope", "u1"))
		_, err := b.RotateRefreshToken(ctx, "t2", token("t3", "f2"), t0)
		require.NoError(t, err)
		require.NoError(t, b.RevokeRefreshFamily(ctx, "t2", "u1"))
		_, err = b.RotateRefreshToken(ctx, "t3", token("t4", "f2"), t0)
		require.ErrorIs(t, err, persistence.ErrTokenInvalid)
	})

	t.Run("RevokeUserRefreshTokens", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		for _, h := range []string{"a1", "a2"} {
			require.NoError(t, b.CreateRefreshToken(ctx, token(h, "fam-"+h)))
		}
		other := token("b1", "fam-b")
		other.UserID = "u2"
		require.NoError(t, b.CreateRefreshToken(ctx, other))
		require.NoError(t, b.RevokeUserRefreshTokens(ctx, "u1", t0))
		for _, h := range []string{"a1", "a2"} {
			_, err := b.RotateRefreshToken(ctx, h, token("n-"+h, "fam-"+h), t0)
			require.ErrorIs(t, err, persistence.ErrTokenInvalid, h)
		}
		_, err := b.RotateRefreshToken(ctx, "b1", token("b2", "fam-b"), t0)
		require.NoError(t, err, "another user's tokens stay")
	})

	t.Run("ConcurrentRotationSpendsOnce", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		require.NoError(t, b.CreateRefreshToken(ctx, token("t1", "f1")))
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = b.RotateRefreshToken(ctx, "t1", token(fmt.Sprintf("next-%d", i), "f1"), t0)
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			require.True(t, errors.Is(err, persistence.ErrTokenReused), "got %v", err)
		}
		require.Equal(t, 1, ok)
	})
}

func testIdempotency(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Parallel()
	b, ctx := open(t), t.Context()
	resp := persistence.IdempotentResponse{Status: 201,
		Header: map[string]string{"Location": "/v1/orders/o1"}, Body: []byte(`{"id":"o1"}`)}

	got, err := b.BeginIdempotent(ctx, "u1", "k1", "h1", "n1", t0)
	require.NoError(t, err)
	require.Nil(t, got, "a new key is claimed")

	steps := []struct {
		name  string
		scope string
		hash  string
		want  error
	}{
		{"same request while running", "u1", "h1", persistence.ErrIdempotencyInProgress},
		{"other request", "u1", "h2", persistence.ErrIdempotencyMismatch},
	}
	for _, s := range steps {
		_, err := b.BeginIdempotent(ctx, s.scope, "k1", s.hash, "n1", t0)
		require.ErrorIs(t, err, s.want, s.name)
	}
	got, err = b.BeginIdempotent(ctx, "u2", "k1", "h9", "n1", t0)
	require.NoError(t, err)
	require.Nil(t, got, "keys are scoped per caller")

	require.NoError(t, b.CompleteIdempotent(ctx, "u1", "k1", resp))
	got, err = b.BeginIdempotent(ctx, "u1", "k1", "h1", "n1", t0)
	require.NoError(t, err)
	require.Equal(t, &resp, got, "the first answer is replayed")
	_, err = b.BeginIdempotent(ctx, "u1", "k1", "h2", "n1", t0)
	require.ErrorIs(t, err, persistence.ErrIdempotencyMismatch)
	require.NoError(t, b.ReleaseIdempotent(ctx, "u1", "k1"), "releasing a completed key keeps it")
	got, err = b.BeginIdempotent(ctx, "u1", "k1", "h1", "n1", t0)
	require.NoError(t, err)
	require.Equal(t, &resp, got)

	// A released claim can be taken again.
	got, err = b.BeginIdempotent(ctx, "u1", "k2", "h1", "n1", t0)
	require.NoError(t, err)
	require.Nil(t, got)
	require.NoError(t, b.ReleaseIdempotent(ctx, "u1", "k2"))
	got, err = b.BeginIdempotent(ctx, "u1", "k2", "h2", "n1", t0)
	require.NoError(t, err)
	require.Nil(t, got)

	// A claim abandoned in progress (its node died) is taken over by the
	// same request after the claim timeout, never by another request.
	_, err = b.BeginIdempotent(ctx, "u1", "k2", "h2", "n1", t0.Add(30*time.Second))
	require.ErrorIs(t, err, persistence.ErrIdempotencyInProgress)
	_, err = b.BeginIdempotent(ctx, "u1", "k2", "h3", "n1", t0.Add(2*time.Minute))
	require.ErrorIs(t, err, persistence.ErrIdempotencyMismatch)
	got, err = b.BeginIdempotent(ctx, "u1", "k2", "h2", "n1", t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.Nil(t, got, "a stale claim is taken over")

	// A claim in progress belongs to the node that made it: when that node
	// leaves the cluster its claims are released at once (the same request
	// may claim again), other nodes' claims and completed keys stay.
	_, err = b.BeginIdempotent(ctx, "u3", "gone", "h1", "n-dead", t0)
	require.NoError(t, err)
	_, err = b.BeginIdempotent(ctx, "u3", "alive", "h1", "n-alive", t0)
	require.NoError(t, err)
	_, err = b.BeginIdempotent(ctx, "u3", "done", "h1", "n-dead", t0)
	require.NoError(t, err)
	require.NoError(t, b.CompleteIdempotent(ctx, "u3", "done", resp))
	released, err := b.ReleaseIdempotencyClaims(ctx, "n-dead")
	require.NoError(t, err)
	require.Equal(t, int64(1), released)
	got, err = b.BeginIdempotent(ctx, "u3", "gone", "h1", "n-alive", t0.Add(time.Second))
	require.NoError(t, err)
	require.Nil(t, got, "the dead node's claim was released")
	_, err = b.BeginIdempotent(ctx, "u3", "alive", "h1", "n-other", t0.Add(time.Second))
	require.ErrorIs(t, err, persistence.ErrIdempotencyInProgress, "a live node's claim stays")
	got, err = b.BeginIdempotent(ctx, "u3", "done", "h1", "n-alive", t0.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, &resp, got, "a completed key stays")

	// Keys are remembered for a day; after that the key starts afresh.
	got, err = b.BeginIdempotent(ctx, "u1", "k1", "h7", "n1", t0.Add(25*time.Hour))
	require.NoError(t, err)
	require.Nil(t, got, "an expired key is a new claim")
}

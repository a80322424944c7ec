package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence"
)

// testPersonalData: what an export reads of one user beside the read
// model: his refresh tokens', Idempotency-Keys' and reset tokens'
// metadata, newest first and bounded, and the failed-login counts of his
// e-mail — nobody else's.
func testPersonalData(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Parallel()
	b, ctx := open(t), t.Context()
	for i, u := range []string{"pd-u1", "pd-u1", "pd-u1", "pd-u2"} {
		require.NoError(t, b.CreateRefreshToken(ctx, persistence.RefreshToken{Hash: "pd-h" + string(rune('a'+i)), UserID: u,
			FamilyID: "pd-f" + string(rune('a'+i)), CreatedAt: t0.Add(time.Duration(i) * time.Minute), ExpiresAt: t0.Add(time.Hour)}))
	}
	require.NoError(t, b.RevokeUserRefreshTokens(ctx, "pd-u2", t0.Add(time.Hour)))
	ts, err := b.RefreshTokensOf(ctx, "pd-u1", 2)
	require.NoError(t, err)
	require.Len(t, ts, 2, "at most limit")
	require.Equal(t, []string{"pd-fc", "pd-fb"}, []string{ts[0].FamilyID, ts[1].FamilyID}, "newest first")
	require.Equal(t, t0.Add(2*time.Minute), ts[0].CreatedAt)
	require.Equal(t, t0.Add(time.Hour), ts[0].ExpiresAt)
	require.Nil(t, ts[0].RevokedAt)
	ts, err = b.RefreshTokensOf(ctx, "pd-u2", 10)
	require.NoError(t, err)
	require.Len(t, ts, 1)
	require.NotNil(t, ts[0].RevokedAt)
	ts, err = b.RefreshTokensOf(ctx, "pd-nobody", 10)
	require.NoError(t, err)
	require.NotNil(t, ts, "an empty list, not null")
	require.Empty(t, ts)

	_, err = b.BeginIdempotent(ctx, "pd-u1", "k1", "h", "node", t0)
	require.NoError(t, err)
	require.NoError(t, b.CompleteIdempotent(ctx, "pd-u1", "k1", persistence.IdempotentResponse{Status: 201, Body: []byte("{}")}))
	_, err = b.BeginIdempotent(ctx, "pd-u1", "k2", "h", "node", t0.Add(time.Second))
	require.NoError(t, err)
	_, err = b.BeginIdempotent(ctx, "pd-u2", "k3", "h", "node", t0)
	require.NoError(t, err)
	ks, err := b.IdempotencyKeysOf(ctx, "pd-u1", 10)
	require.NoError(t, err)
	require.Len(t, ks, 2)
	require.Equal(t, "k2", ks[0].Key)
	require.Nil(t, ks[0].Status, "in progress")
	require.Equal(t, 201, *ks[1].Status)
	require.Equal(t, t0, ks[1].CreatedAt)

	_, err = b.CreatePasswordReset(ctx, persistence.PasswordReset{Hash: "pd-r1", UserID: "pd-u1", CreatedAt: t0,
		ExpiresAt: t0.Add(30 * time.Minute)}, t0.Add(-time.Minute))
	require.NoError(t, err)
	_, err = b.SpendPasswordReset(ctx, "pd-r1", t0.Add(time.Minute))
	require.NoError(t, err)
	rs, err := b.PasswordResetsOf(ctx, "pd-u1", 10)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	require.Equal(t, t0.Add(30*time.Minute), rs[0].ExpiresAt)
	require.Equal(t, t0.Add(time.Minute), *rs[0].UsedAt)

	require.NoError(t, b.AddLoginFailure(ctx, []string{"acct:pd@example.com", "acct-ip:pd@example.com|10.0.0.1",
		"known:pd@example.com|10.0.0.2", "acct:pd@example.com.evil", "acct-ip:pd@example.com.evil|10.0.0.1"}, t0, t0.Add(-time.Hour)))
	fs, err := b.LoginFailuresMatching(ctx, "pd@example.com")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"acct:pd@example.com", "acct-ip:pd@example.com|10.0.0.1", "known:pd@example.com|10.0.0.2"}, keysOf(fs))
	require.Equal(t, 1, fs["acct:pd@example.com"].Failures)
	require.Equal(t, t0, fs["acct:pd@example.com"].Last)
}

package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

// testPasswordResets: a reset token is found while live, spent once (with
// its user's other tokens), never after it expired; one is created per
// account a while; the retention trim deletes the spent and expired.
func testPasswordResets(t *testing.T, open func(t *testing.T) persistence.Backend) {
	reset := func(hash, user string, created time.Time) persistence.PasswordReset {
		return persistence.PasswordReset{Hash: hash, UserID: user, CreatedAt: created, ExpiresAt: created.Add(30 * time.Minute)}
	}
	t.Run("SingleUse", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		created, err := b.CreatePasswordReset(ctx, reset("pr-1", "u1", t0), t0.Add(-time.Minute))
		require.NoError(t, err)
		require.True(t, created)
		created, err = b.CreatePasswordReset(ctx, reset("pr-2", "u1", t0.Add(30*time.Second)), t0.Add(30*time.Second-time.Minute))
		require.NoError(t, err)
		require.False(t, created, "one a minute per account")
		created, err = b.CreatePasswordReset(ctx, reset("pr-3", "u1", t0.Add(2*time.Minute)), t0.Add(time.Minute))
		require.NoError(t, err)
		require.True(t, created)
		created, err = b.CreatePasswordReset(ctx, reset("pr-9", "u2", t0), t0.Add(-time.Minute))
		require.NoError(t, err)
		require.True(t, created, "another account's")

		u, err := b.PasswordResetUser(ctx, "pr-1", t0.Add(time.Minute))
		require.NoError(t, err)
		require.Equal(t, "u1", u)
		_, err = b.PasswordResetUser(ctx, "pr-2", t0.Add(time.Minute))
		require.ErrorIs(t, err, persistence.ErrResetTokenInvalid, "never created")
		_, err = b.PasswordResetUser(ctx, "pr-1", t0.Add(30*time.Minute))
		require.ErrorIs(t, err, persistence.ErrResetTokenInvalid, "expired")
		_, err = b.SpendPasswordReset(ctx, "pr-1", t0.Add(31*time.Minute))
		require.ErrorIs(t, err, persistence.ErrResetTokenInvalid, "expired")

		u, err = b.SpendPasswordReset(ctx, "pr-3", t0.Add(3*time.Minute))
		require.NoError(t, err)
		require.Equal(t, "u1", u)
		for _, h := range []string{"pr-3", "pr-1"} {
			_, err = b.SpendPasswordReset(ctx, h, t0.Add(4*time.Minute))
			require.ErrorIs(t, err, persistence.ErrResetTokenInvalid, "%s: spent, with every token of its user", h)
			_, err = b.PasswordResetUser(ctx, h, t0.Add(4*time.Minute))
			require.ErrorIs(t, err, persistence.ErrResetTokenInvalid)
		}
		u, err = b.PasswordResetUser(ctx, "pr-9", t0.Add(4*time.Minute))
		require.NoError(t, err, "another user's token stays")
		require.Equal(t, "u2", u)
	})
	// A user actor's commit spends every live token of its user (a
	// password change, a switch-off, a new role) and no other user's.
	t.Run("SpentByCommit", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		for _, r := range []persistence.PasswordReset{reset("sc-1", "u1", t0), reset("sc-2", "u2", t0)} {
			created, err := b.CreatePasswordReset(ctx, r, t0.Add(-time.Minute))
			require.NoError(t, err)
			require.True(t, created)
		}
		require.NoError(t, b.Commit(ctx, actors.Commit{ResetsSpent: []actors.ResetSpend{{UserID: "u1", At: t0.Add(time.Minute)}}}))
		_, err := b.PasswordResetUser(ctx, "sc-1", t0.Add(2*time.Minute))
		require.ErrorIs(t, err, persistence.ErrResetTokenInvalid)
		_, err = b.SpendPasswordReset(ctx, "sc-1", t0.Add(2*time.Minute))
		require.ErrorIs(t, err, persistence.ErrResetTokenInvalid)
		u, err := b.PasswordResetUser(ctx, "sc-2", t0.Add(2*time.Minute))
		require.NoError(t, err, "another user's token stays")
		require.Equal(t, "u2", u)
	})
	t.Run("ConcurrentSpends", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		_, err := b.CreatePasswordReset(ctx, reset("pr-c", "u1", t0), t0.Add(-time.Minute))
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { _, errs[i] = b.SpendPasswordReset(ctx, "pr-c", t0.Add(time.Minute)) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, persistence.ErrResetTokenInvalid)
			}
		}
		require.Equal(t, 1, ok, "exactly one spend wins")
	})
	t.Run("Trim", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		day := 24 * time.Hour
		for i, r := range []persistence.PasswordReset{
			reset("pr-old", "u1", t0.Add(-3*day)),   // expired long ago
			reset("pr-spent", "u2", t0.Add(-2*day)), // spent long ago, below
			reset("pr-live", "u3", t0),
		} {
			_, err := b.CreatePasswordReset(ctx, r, r.CreatedAt.Add(-time.Duration(i+1)*time.Hour))
			require.NoError(t, err)
		}
		_, err := b.SpendPasswordReset(ctx, "pr-spent", t0.Add(-2*day+time.Minute))
		require.NoError(t, err)
		n, err := b.TrimPasswordResets(ctx, t0.Add(-day), 1)
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "at most limit")
		n, err = b.TrimPasswordResets(ctx, t0.Add(-day), 100)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		_, err = b.PasswordResetUser(ctx, "pr-live", t0.Add(time.Minute))
		require.NoError(t, err, "a live token stays")
	})
}

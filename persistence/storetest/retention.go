package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence"
)

// testRetention: each trim deletes only what its rule says is old, at
// most limit rows a call.
func testRetention(t *testing.T, open func(t *testing.T) persistence.Backend) {
	day := 24 * time.Hour
	t.Run("LocationHistory", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		addDriver(t, b, "rt-d1", 1, true)
		var fixes []persistence.LocationFix
		for _, age := range []time.Duration{40 * day, 35 * day, 31 * day, 20 * day, time.Hour} {
			fixes = append(fixes, persistence.LocationFix{DriverID: "rt-d1", Lat: 52.5, Lng: 13.4, At: t0.Add(-age)})
		}
		require.NoError(t, b.RecordLocations(ctx, fixes, fixes))
		cut := t0.Add(-30 * day)
		n, err := b.TrimLocationHistory(ctx, cut, 2)
		require.NoError(t, err)
		require.EqualValues(t, 2, n, "at most limit")
		n, err = b.TrimLocationHistory(ctx, cut, 100)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		trail, err := b.Trail(ctx, "rt-d1", t0.Add(-100*day), t0.Add(time.Hour), 100)
		require.NoError(t, err)
		require.Len(t, trail, 2, "the fixes of the last 30 days stay")
	})
	t.Run("ReadNotifications", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		ns := []persistence.Notification{notification(1, "rt-u", "e1"), notification(2, "rt-u", "e2"), notification(3, "rt-u", "e3")}
		_, err := b.CreateNotifications(ctx, ns)
		require.NoError(t, err)
		require.NoError(t, b.MarkNotificationRead(ctx, "rt-u", ns[0].ID, t0.Add(-100*day)))
		require.NoError(t, b.MarkNotificationRead(ctx, "rt-u", ns[1].ID, t0.Add(-10*day)))
		n, err := b.TrimReadNotifications(ctx, t0.Add(-90*day), 100)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		left, _, err := b.ListNotifications(ctx, persistence.NotificationFilter{UserID: "rt-u", Limit: 10})
		require.NoError(t, err)
		require.Len(t, left, 2, "the recently read and the unread stay")
	})
	t.Run("RefreshTokens", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		token := func(hash, family string) persistence.RefreshToken {
			return persistence.RefreshToken{Hash: hash, UserID: "u1", FamilyID: family,
				ExpiresAt: t0.Add(10 * day), CreatedAt: t0.Add(-20 * day)}
		}
		old := token("rt-old", "f-old")
		old.ExpiresAt = t0.Add(-10 * day)
		require.NoError(t, b.CreateRefreshToken(ctx, old))
		live := token("rt-live", "f-live")
		live.ExpiresAt = t0.Add(10 * day)
		require.NoError(t, b.CreateRefreshToken(ctx, live))
		revoked := token("rt-rev", "f-rev")
		revoked.ExpiresAt = t0.Add(10 * day)
		require.NoError(t, b.CreateRefreshToken(ctx, revoked))
		require.NoError(t, b.RevokeRefreshFamily(ctx, "rt-rev", revoked.UserID))
		n, err := b.TrimRefreshTokens(ctx, t0.Add(-day), 100)
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "only the long-expired one: the revocation is recent")
		_, err = b.RotateRefreshToken(ctx, "rt-live", token("rt-live2", "f-live"), t0)
		require.NoError(t, err, "a live token stays")
	})
	t.Run("IdempotencyKeys", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		for i, at := range []time.Time{t0.Add(-3 * day), t0.Add(-2 * day), t0.Add(-30 * time.Second)} {
			_, err := b.BeginIdempotent(ctx, "rt-scope", "k"+string(rune('a'+i)), "h", "n1", at)
			require.NoError(t, err)
		}
		n, err := b.TrimIdempotencyKeys(ctx, t0.Add(-day), 100)
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		_, err = b.BeginIdempotent(ctx, "rt-scope", "kc", "h", "n1", t0)
		require.ErrorIs(t, err, persistence.ErrIdempotencyInProgress, "the recent key stays")
	})
}

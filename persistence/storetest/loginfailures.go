package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence"
)

func testLoginFailures(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Run("CountForgetClearTrim", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
		window := 15 * time.Minute
		add := func(at time.Time, keys ...string) {
			require.NoError(t, b.AddLoginFailure(ctx, keys, at, at.Add(-window)))
		}
		of := func(at time.Time, keys ...string) map[string]persistence.LoginFailureCount {
			got, err := b.LoginFailuresOf(ctx, keys, at.Add(-window))
			require.NoError(t, err)
			return got
		}
		require.Empty(t, of(t0, "acct:a", "acct:b"))
		for i := range 3 {
			add(t0.Add(time.Duration(i)*time.Second), "acct:a", "ip:a|1")
		}
		add(t0, "acct:b")
		got := of(t0.Add(3*time.Second), "acct:a", "ip:a|1", "acct:b", "acct:none")
		require.Equal(t, map[string]persistence.LoginFailureCount{
			"acct:a": {Failures: 3, Last: t0.Add(2 * time.Second)},
			"ip:a|1": {Failures: 3, Last: t0.Add(2 * time.Second)},
			"acct:b": {Failures: 1, Last: t0},
		}, got)

		// Past the window a key is forgotten, and its next failure is
		// the first again.
		later := t0.Add(2*time.Second + window + time.Second)
		require.NotContains(t, of(later, "acct:a"), "acct:a")
		add(later, "acct:a")
		require.Equal(t, 1, of(later, "acct:a")["acct:a"].Failures)

		require.NoError(t, b.ClearLoginFailures(ctx, []string{"acct:a", "ip:a|1"}))
		require.Empty(t, of(later, "acct:a", "ip:a|1"))
		require.Contains(t, of(t0, "acct:b"), "acct:b", "other keys stay")

		// Trim removes only old keys, at most limit at a time.
		for _, k := range []string{"old1", "old2", "old3"} {
			add(t0.Add(-time.Hour), k)
		}
		n, err := b.TrimLoginFailures(ctx, t0.Add(-30*time.Minute), 2)
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		n, err = b.TrimLoginFailures(ctx, t0.Add(-30*time.Minute), 10)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		require.Contains(t, of(t0, "acct:b"), "acct:b")
	})
}

package bus_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/postgres"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
)

// The Postgres leadership the relay runs on (persistence/postgres.Leader;
// tested here because that is where it is used): one holder at a time,
// handed over on release, and lost with the holder's connection.
func TestPostgresLeader(t *testing.T) {
	t.Parallel()
	b := setup(t)
	one, two := b.store.Leader(leaderName), b.store.Leader(leaderName)
	require.Equal(t, one.Key(), two.Key())
	require.NotEqual(t, one.Key(), b.store.Leader("another role").Key())

	held, release, ok, err := one.TryLead(t.Context())
	require.NoError(t, err)
	require.True(t, ok)
	_, _, ok, err = two.TryLead(t.Context())
	require.NoError(t, err)
	require.False(t, ok, "a second leader while the first holds")
	other := pgtest.Open(t) // another schema: its own leadership
	_, releaseOther, ok, err := other.Leader(leaderName).TryLead(t.Context())
	require.NoError(t, err)
	require.True(t, ok, "schemas do not contend")
	releaseOther()

	release()
	release() // idempotent
	requireClosed(t, held, time.Second)

	held, release, ok, err = two.TryLead(t.Context())
	require.NoError(t, err)
	require.True(t, ok, "taken over after release")
	defer release()

	terminateLeader(t, b)
	requireClosed(t, held, 3*postgres.LeaderHeartbeat)
	release() // after loss: returns at once
	eventually(t, 5*time.Second, func() bool {
		_, rel, ok, err := one.TryLead(t.Context())
		require.NoError(t, err)
		if ok {
			rel()
		}
		return ok
	}, "leadership not free after its holder's connection died")
}

func requireClosed(t *testing.T, ch <-chan struct{}, within time.Duration) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		require.FailNow(t, "held not closed", "within %v", within)
	}
}

// terminateLeader kills the Postgres backend that holds the bundle's
// relay leadership, as a failed network or a server restart would.
func terminateLeader(t *testing.T, b *bundle) {
	t.Helper()
	key := b.store.Leader(leaderName).Key()
	var terminated bool
	err := b.store.Pool().QueryRow(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		  AND classid::bigint = $1 AND objid::bigint = $2`,
		int64(uint32(uint64(key)>>32)), int64(uint32(uint64(key)))).Scan(&terminated)
	require.NoError(t, err, "find the leader's backend")
	require.True(t, terminated)
}

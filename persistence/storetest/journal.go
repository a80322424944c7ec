package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

func testJournal(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Run("RoundTripWithSnapshots", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		require.NoError(t, b.Ping(ctx))

		l, err := b.Load(ctx, actors.KindOrder, "o1")
		require.NoError(t, err)
		require.Nil(t, l.Snapshot)
		require.Empty(t, l.Events)

		c := orderCommit("o1", "c1", 1, "pending", t0)
		second := orderCommit("o1", "c1", 2, "assigned", t0.Add(time.Second))
		c.Events = append(c.Events, second.Events...)
		require.NoError(t, b.Commit(ctx, c))
		l, err = b.Load(ctx, actors.KindOrder, "o1")
		require.NoError(t, err)
		require.Nil(t, l.Snapshot)
		require.Equal(t, c.Events, l.Events)

		// Same id, other kind: a separate stream.
		l, err = b.Load(ctx, actors.KindDriver, "o1")
		require.NoError(t, err)
		require.Empty(t, l.Events)

		for seq := int64(3); seq <= 5; seq++ {
			c := orderCommit("o1", "c1", seq, "in_transit", t0.Add(time.Duration(seq)*time.Second))
			if seq == 5 {
				c.Snapshots = []actors.Snapshot{{Kind: actors.KindOrder, EntityID: "o1", Seq: 5, State: []byte("state@5")}}
			}
			require.NoError(t, b.Commit(ctx, c))
		}
		l, err = b.Load(ctx, actors.KindOrder, "o1")
		require.NoError(t, err)
		require.Equal(t, &actors.Snapshot{Kind: actors.KindOrder, EntityID: "o1", Seq: 5, State: []byte("state@5")}, l.Snapshot)
		require.Empty(t, l.Events)

		six := orderCommit("o1", "c1", 6, "delivered", t0.Add(6*time.Second))
		require.NoError(t, b.Commit(ctx, six))
		// An older snapshot arriving late does not replace the newest.
		require.NoError(t, b.Commit(ctx, actors.Commit{Snapshots: []actors.Snapshot{
			{Kind: actors.KindOrder, EntityID: "o1", Seq: 3, State: []byte("state@3")}}}))
		l, err = b.Load(ctx, actors.KindOrder, "o1")
		require.NoError(t, err)
		require.Equal(t, int64(5), l.Snapshot.Seq)
		require.Equal(t, []byte("state@5"), l.Snapshot.State)
		require.Equal(t, six.Events, l.Events)
	})

	t.Run("VersionIsTheNewestSeq", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		version := func(kind, id string) int64 {
			t.Helper()
			v, err := b.Version(ctx, kind, id)
			require.NoError(t, err)
			return v
		}
		require.Zero(t, version(actors.KindOrder, "o1"), "unknown entity")
		for seq := int64(1); seq <= 3; seq++ {
			c := orderCommit("o1", "c1", seq, "pending", t0.Add(time.Duration(seq)*time.Second))
			if seq == 2 {
				// A snapshot does not hide the events after it.
				c.Snapshots = []actors.Snapshot{{Kind: actors.KindOrder, EntityID: "o1", Seq: 2, State: []byte("s")}}
			}
			require.NoError(t, b.Commit(ctx, c))
			require.Equal(t, seq, version(actors.KindOrder, "o1"))
		}
		require.Zero(t, version(actors.KindDriver, "o1"), "same id, other kind")
		require.Zero(t, version(actors.KindOrder, "o2"), "other id")
	})

	t.Run("ConflictWritesNothing", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		require.NoError(t, b.Commit(ctx, orderCommit("o1", "c1", 1, "pending", t0)))
		first := orderCommit("o1", "c1", 2, "assigned", t0.Add(time.Second))
		require.NoError(t, b.Commit(ctx, first))

		// A stale activation, still at version 1, writes events 2 and 3.
		stale := orderCommit("o1", "c1", 2, "cancelled", t0.Add(2*time.Second))
		three := orderCommit("o1", "c1", 3, "cancelled", t0.Add(3*time.Second))
		stale.Events = append(stale.Events, three.Events...)
		stale.Timeline = append(stale.Timeline, three.Timeline...)
		stale.Outbox = append(stale.Outbox, three.Outbox...)
		stale.Orders = three.Orders
		stale.Snapshots = []actors.Snapshot{{Kind: actors.KindOrder, EntityID: "o1", Seq: 3, State: []byte("stale")}}
		err := b.Commit(ctx, stale)
		require.ErrorIs(t, err, actors.ErrConflict)

		requireNothingOf(t, b, "o1", 3)
		l, err := b.Load(ctx, actors.KindOrder, "o1")
		require.NoError(t, err)
		require.Nil(t, l.Snapshot)
		require.Len(t, l.Events, 2)
		require.Equal(t, first.Events[0], l.Events[1])
		o, err := b.GetOrder(ctx, "o1")
		require.NoError(t, err)
		require.Equal(t, first.Orders[0], o)
		tl, err := b.Timeline(ctx, "o1")
		require.NoError(t, err)
		require.Len(t, tl, 2)
		require.Equal(t, "assigned", tl[1].Status)
	})

	t.Run("ConcurrentWritersOneWins", func(t *testing.T) { // I5
		t.Parallel()
		b, ctx := open(t), t.Context()
		const writers = 50
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				c := orderCommit("race", "c1", 1, "pending", t0)
				c.Events[0].CommandID = fmt.Sprintf("writer-%d", i)
				c.Outbox[0].Payload = fmt.Appendf(nil, `{"writer":%d}`, i)
				errs[i] = b.Commit(ctx, c)
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "two writers committed seq 1")
				winner = i
				continue
			}
			require.ErrorIs(t, err, actors.ErrConflict)
		}
		require.NotEqual(t, -1, winner, "no writer committed")
		l, err := b.Load(ctx, actors.KindOrder, "race")
		require.NoError(t, err)
		require.Len(t, l.Events, 1)
		require.Equal(t, fmt.Sprintf("writer-%d", winner), l.Events[0].CommandID)
		if r, ok := b.(OutboxReader); ok {
			msgs, err := r.UnpublishedOutbox(ctx, 100)
			require.NoError(t, err)
			require.Len(t, msgs, 1)
			require.JSONEq(t, fmt.Sprintf(`{"writer":%d}`, winner), string(msgs[0].Payload))
		}
	})
}

package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

func testProofs(t *testing.T, open func(t *testing.T) persistence.Backend) {
	proofCommit := func(order string, seq int64, key string, at time.Time) actors.Commit {
		c := orderCommit(order, "c1", seq, "in_transit", at)
		c.Proofs = []actors.ProofRow{{OrderID: order, Seq: seq, Key: key, ContentType: "image/png",
			Size: 2048 + seq, ByUserID: "d1", At: at}}
		return c
	}

	t.Run("RecordedWithTheCommit", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		require.NoError(t, b.Commit(ctx, orderCommit("o1", "c1", 1, "pending", t0)))
		require.NoError(t, b.Commit(ctx, proofCommit("o1", 2, "proofs/o1/b", t0.Add(time.Minute))))
		require.NoError(t, b.Commit(ctx, proofCommit("o1", 3, "proofs/o1/a", t0.Add(2*time.Minute))))
		require.NoError(t, b.Commit(ctx, proofCommit("o2", 1, "proofs/o2/a", t0)))

		got, err := b.ListProofs(ctx, "o1")
		require.NoError(t, err)
		require.Equal(t, []persistence.Proof{
			{ProofRow: proofCommit("o1", 2, "proofs/o1/b", t0.Add(time.Minute)).Proofs[0]},
			{ProofRow: proofCommit("o1", 3, "proofs/o1/a", t0.Add(2*time.Minute)).Proofs[0]},
		}, got, "oldest first, by the event that recorded them")

		require.NoError(t, b.SetProofThumbnail(ctx, "o1", "proofs/o1/a", "proofs/o1/a.thumb.jpg"))
		require.NoError(t, b.SetProofThumbnail(ctx, "o1", "proofs/o1/a", "proofs/o1/a.thumb.jpg"), "again is harmless")
		got, err = b.ListProofs(ctx, "o1")
		require.NoError(t, err)
		require.Equal(t, "", got[0].ThumbnailKey)
		require.Equal(t, "proofs/o1/a.thumb.jpg", got[1].ThumbnailKey)

		none, err := b.ListProofs(ctx, "o3")
		require.NoError(t, err)
		require.Empty(t, none)
	})

	t.Run("UnknownProofThumbnail", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		require.NoError(t, b.Commit(ctx, proofCommit("o1", 1, "proofs/o1/a", t0)))
		tests := []struct{ order, key string }{{"o1", "proofs/o1/zzz"}, {"o2", "proofs/o1/a"}}
		for _, tt := range tests {
			require.ErrorIs(t, b.SetProofThumbnail(ctx, tt.order, tt.key, "x.thumb.jpg"), persistence.ErrNotFound, tt)
		}
	})

	t.Run("SameKeyTwiceIsRefusedWhole", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		require.NoError(t, b.Commit(ctx, proofCommit("o1", 1, "proofs/o1/a", t0)))
		err := b.Commit(ctx, proofCommit("o1", 2, "proofs/o1/a", t0.Add(time.Minute)))
		require.Error(t, err)
		loaded, err := b.Load(ctx, actors.KindOrder, "o1")
		require.NoError(t, err)
		require.Len(t, loaded.Events, 1, "nothing of the refused commit was written")
	})
}

package storetest

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

// testOutboxAndReplay: the relay reads an order's messages in commit
// order even when their timestamps tie and their ids sort otherwise
// ("…:10" < "…:9"), and JournalEvents returns the tail after a seq.
func testOutboxAndReplay(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Parallel()
	b := open(t)
	ctx := context.Background()
	const id = "ord_outbox"
	for seq := int64(1); seq <= 12; seq++ {
		// The same instant for every event: order must come from commit order.
		c := orderCommit(id, "usr_c", seq, "pending", t0)
		c.Outbox[0].ID = "order:" + id + ":" + strconv.FormatInt(seq, 10)
		if seq%2 == 0 { // a traced command's message carries its span
			c.Outbox[0].Trace = traceOf(seq)
		}
		require.NoError(t, b.Commit(ctx, c))
	}
	msgs, err := b.UnpublishedOutbox(ctx, 100)
	require.NoError(t, err)
	require.Len(t, msgs, 12)
	for i, m := range msgs {
		require.Equal(t, "order:"+id+":"+strconv.Itoa(i+1), m.ID, "outbox position %d", i)
		want := ""
		if (i+1)%2 == 0 {
			want = traceOf(int64(i + 1))
		}
		require.Equal(t, want, m.Trace, "outbox position %d", i)
	}
	require.NoError(t, b.MarkOutboxPublished(ctx, []string{msgs[0].ID, msgs[1].ID}, t0))
	rest, err := b.UnpublishedOutbox(ctx, 100)
	require.NoError(t, err)
	require.Len(t, rest, 10)
	require.Equal(t, msgs[2].ID, rest[0].ID)

	tail, err := b.JournalEvents(ctx, actors.KindOrder, id, 9)
	require.NoError(t, err)
	require.Len(t, tail, 3)
	for i, e := range tail {
		require.Equal(t, int64(10+i), e.Seq)
		require.Equal(t, id, e.EntityID)
	}
	all, err := b.JournalEvents(ctx, actors.KindOrder, id, 0)
	require.NoError(t, err)
	require.Len(t, all, 12)
	none, err := b.JournalEvents(ctx, actors.KindOrder, "ord_missing", 0)
	require.NoError(t, err)
	require.Empty(t, none)
}

// traceOf is a W3C traceparent whose span id is seq.
func traceOf(seq int64) string {
	return fmt.Sprintf("00-4bf92f3577b34da6a3ce929d0e0e4736-%016x-01", seq)
}

package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

func testOrders(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Run("UpsertNeverMovesVersionBack", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		v3 := orderCommit("o1", "c1", 3, "picked_up", t0.Add(3*time.Second)).Orders[0]
		v3.DriverID = "d1"
		v3.ScheduledFor = ptr(t0.Add(time.Hour))
		v2 := orderCommit("o1", "c1", 2, "assigned", t0.Add(2*time.Second)).Orders[0]
		v2.OfferExpiresAt = ptr(t0.Add(47 * time.Second))
		for _, row := range []actors.OrderRow{v2, v3, v2, v3} {
			require.NoError(t, b.Commit(ctx, actors.Commit{Orders: []actors.OrderRow{row}}))
			got, err := b.GetOrder(ctx, "o1")
			require.NoError(t, err)
			if row.Version == 2 && got.Version == 2 {
				require.Equal(t, v2, got, "the open offer's deadline round-trips")
				continue
			}
			require.Equal(t, v3, got)
		}
		_, err := b.GetOrder(ctx, "nope")
		require.ErrorIs(t, err, persistence.ErrNotFound)
	})

	t.Run("Timeline", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		var want []actors.TimelineEntry
		for seq, status := range []string{"pending", "assigned", "accepted"} {
			c := orderCommit("o1", "c1", int64(seq+1), status, t0.Add(time.Duration(seq)*time.Minute))
			c.Timeline[0].Metadata["driver_id"] = "d1"
			require.NoError(t, b.Commit(ctx, c))
			want = append(want, c.Timeline...)
		}
		got, err := b.Timeline(ctx, "o1")
		require.NoError(t, err)
		require.Equal(t, want, got)
		got, err = b.Timeline(ctx, "unknown")
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("ListFiltersAndPages", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		statuses := []string{"pending", "assigned", "delivered", "cancelled"}
		var all []actors.OrderRow // newest (highest id) first
		for i := range 23 {
			c := orderCommit(fmt.Sprintf("o%03d", i), fmt.Sprintf("c%d", i%3), 1, statuses[i%4], t0)
			if i%4 != 0 {
				c.Orders[0].DriverID = fmt.Sprintf("d%d", i%2)
			}
			require.NoError(t, b.Commit(ctx, c))
			all = append([]actors.OrderRow{c.Orders[0]}, all...)
		}
		// A user who is customer of some orders and driver of others.
		c := orderCommit("o100", "d1", 1, "pending", t0)
		require.NoError(t, b.Commit(ctx, c))
		all = append([]actors.OrderRow{c.Orders[0]}, all...)

		where := func(keep func(o actors.OrderRow) bool) []string {
			var ids []string
			for _, o := range all {
				if keep(o) {
					ids = append(ids, o.ID)
				}
			}
			return ids
		}
		tests := []struct {
			name   string
			filter persistence.OrderFilter
			want   []string
		}{
			{"all", persistence.OrderFilter{}, where(func(actors.OrderRow) bool { return true })},
			{"statuses", persistence.OrderFilter{Statuses: []string{"pending", "delivered"}},
				where(func(o actors.OrderRow) bool { return o.Status == "pending" || o.Status == "delivered" })},
			{"customer", persistence.OrderFilter{CustomerID: "c1"},
				where(func(o actors.OrderRow) bool { return o.CustomerID == "c1" })},
			{"driver", persistence.OrderFilter{DriverID: "d1"},
				where(func(o actors.OrderRow) bool { return o.DriverID == "d1" })},
			{"user", persistence.OrderFilter{UserID: "d1"},
				where(func(o actors.OrderRow) bool { return o.DriverID == "d1" || o.CustomerID == "d1" })},
			{"customer and status", persistence.OrderFilter{CustomerID: "c2", Statuses: []string{"assigned"}},
				where(func(o actors.OrderRow) bool { return o.CustomerID == "c2" && o.Status == "assigned" })},
			{"none", persistence.OrderFilter{CustomerID: "nobody"}, nil},
		}
		for _, tt := range tests {
			for _, limit := range []int{1, 4, 5, 100} {
				f := tt.filter
				f.Limit = limit
				var got []string
				for {
					page, more, err := b.ListOrders(ctx, f)
					require.NoError(t, err)
					require.LessOrEqual(t, len(page), limit)
					for _, o := range page {
						got = append(got, o.ID)
					}
					if !more {
						break
					}
					require.Len(t, page, limit, "%s: a short page claims more", tt.name)
					f.After = page[len(page)-1].ID
				}
				require.Equal(t, tt.want, got, "%s, limit %d", tt.name, limit)
			}
		}
		page, _, err := b.ListOrders(ctx, persistence.OrderFilter{Limit: 1, After: "o022"})
		require.NoError(t, err)
		i := slices.IndexFunc(all, func(o actors.OrderRow) bool { return o.ID == "o021" })
		require.Equal(t, []actors.OrderRow{all[i]}, page, "rows come back whole")
	})
}

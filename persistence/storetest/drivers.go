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

func testDrivers(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Run("ConcurrentReservationsRespectCapacity", func(t *testing.T) { // I2
		t.Parallel()
		b, ctx := open(t), t.Context()
		addDriver(t, b, "d1", 1, true)
		const orders = 20
		errs := make([]error, orders)
		var wg sync.WaitGroup
		for i := range orders {
			wg.Go(func() {
				c := orderCommit(fmt.Sprintf("o%02d", i), "c1", 1, "assigned", t0)
				c.Loads = []actors.DriverLoad{{DriverID: "d1", Delta: 1}}
				errs[i] = b.Commit(ctx, c)
			})
		}
		wg.Wait()
		winners := 0
		for i, err := range errs {
			if err == nil {
				winners++
				continue
			}
			require.ErrorIs(t, err, actors.ErrDriverUnavailable)
			requireNothingOf(t, b, fmt.Sprintf("o%02d", i), 1)
		}
		require.Equal(t, 1, winners)
		d, err := b.GetDriver(ctx, "d1")
		require.NoError(t, err)
		require.Equal(t, 1, d.ActiveOrders)
		require.Equal(t, "busy", d.Status)
	})

	t.Run("RefusedReservations", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		addDriver(t, b, "offline", 1, false)
		addDriver(t, b, "full", 2, true)
		require.NoError(t, load(b, ctx, "full", 1))
		require.NoError(t, load(b, ctx, "full", 1))
		tests := []struct {
			driver string
			want   error
		}{
			{"offline", actors.ErrDriverUnavailable},
			{"full", actors.ErrDriverUnavailable},
			{"ghost", actors.ErrDriverNotFound},
		}
		for _, tt := range tests {
			id := "order-for-" + tt.driver
			c := orderCommit(id, "c1", 1, "assigned", t0)
			c.Loads = []actors.DriverLoad{{DriverID: tt.driver, Delta: 1}}
			require.ErrorIs(t, b.Commit(ctx, c), tt.want, tt.driver)
			requireNothingOf(t, b, id, 1)
		}
		d, err := b.GetDriver(ctx, "full")
		require.NoError(t, err)
		require.Equal(t, 2, d.ActiveOrders)
		_, err = b.GetDriver(ctx, "ghost")
		require.ErrorIs(t, err, persistence.ErrNotFound)
	})

	t.Run("ReleaseNeverBelowZero", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		addDriver(t, b, "d1", 3, true)
		steps := []struct {
			delta int
			want  int
		}{{-1, 0}, {+1, 1}, {+1, 2}, {-1, 1}, {-1, 0}, {-1, 0}}
		for i, s := range steps {
			require.NoError(t, load(b, ctx, "d1", s.delta), "step %d", i)
			d, err := b.GetDriver(ctx, "d1")
			require.NoError(t, err)
			require.Equal(t, s.want, d.ActiveOrders, "step %d", i)
		}
		require.NoError(t, load(b, ctx, "ghost", -1), "releasing an unknown driver is a no-op")
	})

	t.Run("DriverRowKeepsLoadAndVersion", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		addDriver(t, b, "d1", 2, true)
		require.NoError(t, load(b, ctx, "d1", 1))
		setDriver(t, b, "d1", 2, 2, false) // goes offline holding an order
		d, err := b.GetDriver(ctx, "d1")
		require.NoError(t, err)
		require.Equal(t, persistence.Driver{ID: "d1", Name: "Name d1", Email: "d1@example.com", Phone: "+49 30 d1",
			Available: false, Capacity: 2, ActiveOrders: 1, Status: "busy", UpdatedAt: t0.Add(2 * time.Second)}, d)

		// A row older than the stored one is ignored.
		require.NoError(t, b.Commit(ctx, actors.Commit{Drivers: []actors.DriverRow{
			{ID: "d1", Available: true, Capacity: 1, Version: 1, UpdatedAt: t0}}}))
		d, err = b.GetDriver(ctx, "d1")
		require.NoError(t, err)
		require.False(t, d.Available)
		require.Equal(t, 2, d.Capacity)
	})

	t.Run("ListByStatus", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		addDriver(t, b, "d1-offline", 1, false)
		addDriver(t, b, "d2-available", 2, true)
		addDriver(t, b, "d3-busy", 1, true)
		addDriver(t, b, "d4-available", 2, true)
		addDriver(t, b, "d5-busy", 2, true)
		require.NoError(t, load(b, ctx, "d3-busy", 1))
		require.NoError(t, load(b, ctx, "d4-available", 1))
		require.NoError(t, load(b, ctx, "d5-busy", 1))
		setDriver(t, b, "d5-busy", 2, 2, false)

		tests := []struct {
			status string
			want   []string
		}{
			{"", []string{"d1-offline", "d2-available", "d3-busy", "d4-available", "d5-busy"}},
			{"offline", []string{"d1-offline"}},
			{"available", []string{"d2-available", "d4-available"}},
			{"busy", []string{"d3-busy", "d5-busy"}},
		}
		for _, tt := range tests {
			var got []string
			after := ""
			for {
				page, more, err := b.ListDrivers(ctx, persistence.DriverFilter{Status: tt.status, Limit: 2, After: after})
				require.NoError(t, err)
				for _, d := range page {
					if tt.status != "" {
						require.Equal(t, tt.status, d.Status)
					}
					require.Equal(t, d.ID+"@example.com", d.Email)
					got = append(got, d.ID)
				}
				if !more {
					break
				}
				require.NotEmpty(t, page)
				after = page[len(page)-1].ID
			}
			require.Equal(t, tt.want, got, "status %q", tt.status)
		}
	})
}

package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
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

	t.Run("CapacityBelowActiveOrdersIsRefused", func(t *testing.T) { // I2
		t.Parallel()
		b, ctx := open(t), t.Context()
		addDriver(t, b, "d1", 3, true)
		require.NoError(t, load(b, ctx, "d1", 1))
		require.NoError(t, load(b, ctx, "d1", 1))

		c := driverCommit("d1", 2, 1, true)
		c.Outbox = []actors.OutboxMessage{{ID: "driver:d1:2", Subject: "outrider.driver.d1", Payload: []byte("{}"), At: t0}}
		require.ErrorIs(t, b.Commit(ctx, c), actors.ErrCapacityInUse)
		// Nothing was written: no event, row unchanged, no message.
		v, err := b.Version(ctx, actors.KindDriver, "d1")
		require.NoError(t, err)
		require.Equal(t, int64(1), v)
		requireDriver(t, b, "d1", 3, 2, true)
		msgs, err := b.UnpublishedOutbox(ctx, 1000)
		require.NoError(t, err)
		for _, m := range msgs {
			require.NotEqual(t, "driver:d1:2", m.ID, "outbox holds a refused message")
		}

		// A row older than the stored one changes nothing, so it refuses nothing.
		require.NoError(t, b.Commit(ctx, actors.Commit{Drivers: []actors.DriverRow{
			{ID: "d1", Available: false, Capacity: 1, Version: 1, UpdatedAt: t0}}}))
		requireDriver(t, b, "d1", 3, 2, true)

		// Down to exactly the active orders is allowed, and so is going
		// offline while holding them; then, one released, capacity 1.
		require.NoError(t, b.Commit(ctx, driverCommit("d1", 2, 2, false)))
		requireDriver(t, b, "d1", 2, 2, false)
		require.ErrorIs(t, b.Commit(ctx, driverCommit("d1", 3, 1, false)), actors.ErrCapacityInUse)
		require.NoError(t, load(b, ctx, "d1", -1))
		require.NoError(t, b.Commit(ctx, driverCommit("d1", 3, 1, true)))
		requireDriver(t, b, "d1", 1, 1, true)
	})

	t.Run("CapacityChangeRacingReservations", func(t *testing.T) { // I2
		t.Parallel()
		b, ctx := open(t), t.Context()
		// Per driver, two orders reserve while the driver lowers its
		// capacity from 2 to 1: whichever order the database settles
		// them in, the load fits the capacity and every refusal says why.
		const drivers = 20
		for i := range drivers {
			addDriver(t, b, fmt.Sprintf("d%02d", i), 2, true)
		}
		lowered := make([]error, drivers)
		reserved := make([][2]error, drivers)
		var wg sync.WaitGroup
		for i := range drivers {
			id := fmt.Sprintf("d%02d", i)
			wg.Go(func() { lowered[i] = b.Commit(ctx, driverCommit(id, 2, 1, true)) })
			for j := range 2 {
				wg.Go(func() {
					reserved[i][j] = b.Commit(ctx, withLoad(orderCommit(fmt.Sprintf("o%02d-%d", i, j), "c1", 1, "assigned", t0), id))
				})
			}
		}
		wg.Wait()
		for i := range drivers {
			id := fmt.Sprintf("d%02d", i)
			winners := 0
			for _, err := range reserved[i] {
				if err == nil {
					winners++
				} else {
					require.ErrorIs(t, err, actors.ErrDriverUnavailable, id)
				}
			}
			d, err := b.GetDriver(ctx, id)
			require.NoError(t, err)
			require.Equal(t, winners, d.ActiveOrders, id)
			if lowered[i] == nil {
				require.Equal(t, 1, d.Capacity, id)
				require.LessOrEqual(t, winners, 1, id)
			} else {
				require.ErrorIs(t, lowered[i], actors.ErrCapacityInUse, id)
				require.Equal(t, 2, d.Capacity, id)
				require.Equal(t, 2, winners, id)
			}
		}
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
			for _, limit := range []int{1, 2, 10} {
				require.Equal(t, tt.want, listDrivers(t, b, tt.status, limit), "status %q, pages of %d", tt.status, limit)
			}
		}
	})

	t.Run("ReservationGuardAgreesWithCanTake", func(t *testing.T) { // I2
		t.Parallel()
		b, ctx := open(t), t.Context()
		// The commit's guard is the store's copy of driver.CanTake (it must
		// decide inside the transaction); on every case they must agree.
		cases := []struct {
			available        bool
			capacity, active int
		}{
			{true, 1, 0}, {true, 1, 1}, {false, 1, 0}, {false, 1, 1},
			{true, 3, 0}, {true, 3, 2}, {true, 3, 3}, {false, 3, 2},
			{true, driver.MaxCapacity, driver.MaxCapacity - 1}, {true, driver.MaxCapacity, driver.MaxCapacity},
		}
		for i, tc := range cases {
			id := fmt.Sprintf("d%02d", i)
			// Load the driver while it has room, then set the case's row.
			addDriver(t, b, id, max(tc.capacity, tc.active), true)
			for range tc.active {
				require.NoError(t, load(b, ctx, id, 1))
			}
			setDriver(t, b, id, 2, tc.capacity, tc.available)
			want := driver.CanTake(tc.available, tc.capacity, tc.active)
			err := load(b, ctx, id, 1)
			if want {
				require.NoError(t, err, "%+v", tc)
			} else {
				require.ErrorIs(t, err, actors.ErrDriverUnavailable, "%+v", tc)
			}
			d, err := b.GetDriver(ctx, id)
			require.NoError(t, err)
			require.Equal(t, tc.active+map[bool]int{true: 1}[want], d.ActiveOrders, "%+v", tc)
		}
	})
}

// listDrivers pages through the drivers of status, limit at a time.
func listDrivers(t *testing.T, b persistence.Backend, status string, limit int) []string {
	t.Helper()
	var got []string
	after := ""
	for {
		page, more, err := b.ListDrivers(t.Context(), persistence.DriverFilter{Status: status, Limit: limit, After: after})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), limit)
		for _, d := range page {
			if status != "" {
				require.Equal(t, status, d.Status)
			}
			require.Equal(t, d.ID+"@example.com", d.Email)
			got = append(got, d.ID)
		}
		if !more {
			return got
		}
		require.NotEmpty(t, page)
		after = page[len(page)-1].ID
	}
}

// requireDriver asserts driver id's capacity, load and availability.
func requireDriver(t *testing.T, b persistence.Backend, id string, capacity, active int, available bool) {
	t.Helper()
	d, err := b.GetDriver(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, []any{capacity, active, available}, []any{d.Capacity, d.ActiveOrders, d.Available},
		"capacity, active orders, available")
}

// Package storetest is the conformance suite every persistence.Backend
// passes (Postgres now, SQLite later), the way River tests its drivers:
// one set of behaviours, written once, run against each implementation.
//
// A backend's test calls Run with a function that returns a fresh,
// migrated, empty backend. Cases run in parallel, each on its own backend.
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

// OutboxReader is implemented by backends that let the suite read back
// unpublished outbox messages; the suite then also checks that a refused
// commit leaves no message behind.
type OutboxReader interface {
	UnpublishedOutbox(ctx context.Context, limit int) ([]actors.OutboxMessage, error)
}

// Run runs the conformance suite. open must return a fresh, migrated,
// empty backend and arrange its disposal with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) persistence.Backend) {
	groups := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) persistence.Backend)
	}{
		{"Journal", testJournal},
		{"Drivers", testDrivers},
		{"Orders", testOrders},
		{"Users", testUsers},
		{"OrdersByDay", testOrdersByDay},
		{"DeliveryTimes", testDeliveryTimes},
		{"Auth", testAuth},
		{"LoginFailures", testLoginFailures},
		{"Retention", testRetention},
		{"Idempotency", testIdempotency},
		{"OutboxAndReplay", testOutboxAndReplay},
		{"Locations", testLocations},
		{"Notifications", testNotifications},
		{"Webhooks", testWebhooks},
		{"Proofs", testProofs},
		{"Deadlines", testDeadlines},
		{"Erasure", testErasure},
		{"PasswordResets", testPasswordResets},
		{"UserRole", testUserRole},
		{"LastAdmin", testLastAdmin},
		{"PersonalData", testPersonalData},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, open) })
	}
}

// t0 is the suite's clock: a fixed instant, exact at microsecond
// precision, so values round-trip through any backend unchanged.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// orderCommit is what an order actor commits for event seq of order id
// taking it to status: journal entry, order row, timeline line and outbox
// message, like actors/order.Effects builds.
func orderCommit(id, customer string, seq int64, status string, at time.Time) actors.Commit {
	typ := "order." + status
	return actors.Commit{
		Events: []actors.Event{{Kind: actors.KindOrder, EntityID: id, Seq: seq, Type: typ,
			Payload: []byte(fmt.Sprintf("%s/%d", id, seq)), CommandID: fmt.Sprintf("cmd-%s-%d", id, seq), At: at}},
		Orders: []actors.OrderRow{{
			ID: id, CustomerID: customer,
			Pickup:         actors.Place{Address: "Alexanderplatz 1", Lat: ptr(52.52), Lng: ptr(13.41)},
			Dropoff:        actors.Place{Address: "Unter den Linden 5"},
			DeliveryOption: "standard", PaymentStatus: "unpaid", Status: status, Notes: "ring twice",
			Version: seq, CreatedAt: t0, UpdatedAt: at,
		}},
		Timeline: []actors.TimelineEntry{{OrderID: id, Seq: seq, Status: status, ByUserID: customer,
			ByRole: actors.RoleCustomer, Metadata: map[string]string{"event": typ}, At: at}},
		Outbox: []actors.OutboxMessage{{ID: fmt.Sprintf("order:%s:%d", id, seq), Subject: "outrider.order." + id,
			Payload: []byte(`{"seq":` + fmt.Sprint(seq) + `}`), At: at}},
	}
}

// userCommit registers a user the way the user actor does.
func userCommit(id, email, role string) actors.Commit {
	return actors.Commit{
		Events: []actors.Event{{Kind: actors.KindUser, EntityID: id, Seq: 1, Type: "user.registered",
			Payload: []byte(id), CommandID: "register-" + id, At: t0}},
		Users: []actors.UserRow{{ID: id, Email: email, Name: "Name " + id, Phone: "+49 30 " + id,
			Role: role, PasswordHash: "hash-" + id, CreatedAt: t0}},
	}
}

// addDriver registers driver id (user and driver rows) with the given
// capacity and availability.
func addDriver(t *testing.T, b persistence.Backend, id string, capacity int, available bool) {
	t.Helper()
	require.NoError(t, b.Commit(t.Context(), userCommit(id, id+"@example.com", actors.RoleDriver)))
	setDriver(t, b, id, 1, capacity, available)
}

// setDriver commits driver event seq with the driver row it implies.
func setDriver(t *testing.T, b persistence.Backend, id string, seq int64, capacity int, available bool) {
	t.Helper()
	require.NoError(t, b.Commit(t.Context(), driverCommit(id, seq, capacity, available)))
}

// driverCommit is driver event seq with the driver row it implies.
func driverCommit(id string, seq int64, capacity int, available bool) actors.Commit {
	return actors.Commit{
		Events: []actors.Event{{Kind: actors.KindDriver, EntityID: id, Seq: seq, Type: "driver.changed",
			Payload: []byte("x"), CommandID: fmt.Sprintf("drv-%s-%d", id, seq), At: t0}},
		Drivers: []actors.DriverRow{{ID: id, Available: available, Capacity: capacity, Version: seq,
			UpdatedAt: t0.Add(time.Duration(seq) * time.Second)}},
	}
}

// withLoad adds to c a reservation of one unit of driver's capacity.
func withLoad(c actors.Commit, driver string) actors.Commit {
	c.Loads = []actors.DriverLoad{{DriverID: driver, Delta: 1}}
	return c
}

// load changes driver id's load by delta in a commit of its own.
func load(b persistence.Backend, ctx context.Context, id string, delta int) error {
	return b.Commit(ctx, actors.Commit{Loads: []actors.DriverLoad{{DriverID: id, Delta: delta}}})
}

// requireNothingOf asserts that no trace of order id's event seq exists:
// no journal entry, timeline line or outbox message, and an order row
// (if any) older than seq.
func requireNothingOf(t *testing.T, b persistence.Backend, id string, seq int64) {
	t.Helper()
	ctx := t.Context()
	l, err := b.Load(ctx, actors.KindOrder, id)
	require.NoError(t, err)
	for _, e := range l.Events {
		require.Less(t, e.Seq, seq, "journal holds event %d of %s", e.Seq, id)
	}
	tl, err := b.Timeline(ctx, id)
	require.NoError(t, err)
	for _, e := range tl {
		require.Less(t, e.Seq, seq, "timeline holds line %d of %s", e.Seq, id)
	}
	o, err := b.GetOrder(ctx, id)
	if err == nil {
		require.Less(t, o.Version, seq)
	} else {
		require.ErrorIs(t, err, persistence.ErrNotFound)
	}
	if r, ok := b.(OutboxReader); ok {
		msgs, err := r.UnpublishedOutbox(ctx, 10000)
		require.NoError(t, err)
		for _, m := range msgs {
			require.NotEqual(t, fmt.Sprintf("order:%s:%d", id, seq), m.ID, "outbox holds a refused message")
		}
	}
}

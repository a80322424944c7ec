package order_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// personal are the strings of redactFixture's order that name or locate
// its customer.
var personal = []string{"1 Pickup St", "2 Dropoff Rd", "ring twice", "nobody at Alice's", "Alice moved"}

// redactFixture is an order with every event that carries personal data
// (addresses and coordinates, notes, reasons), as journaled: its state,
// and the journal with the effects of each step.
func redactFixture(t *testing.T) (*pb.OrderState, []actors.Event, actors.Commit) {
	t.Helper()
	var (
		s       *pb.OrderState
		journal []actors.Event
		all     actors.Commit
	)
	for _, cmd := range []*pb.OrderCommand{
		createCmd(customer, validCreate()),
		assignCmd(admin, driverID),
		declineCmd(theDriver, "nobody at Alice's"),
		assignCmd(admin, driverID),
		acceptCmd(theDriver),
		statusCmd(theDriver, order.PickedUp, ""),
		statusCmd(admin, order.Failed, "Alice moved"),
	} {
		events, rej := order.Decide(s, cmd)
		require.Nil(t, rej)
		next := order.Number(s, orderID, events)
		c, err := order.Effects(s, next, events)
		require.NoError(t, err)
		journal = append(journal, c.Events...)
		all.Outbox = append(all.Outbox, c.Outbox...)
		all.Snapshots = append(all.Snapshots, c.Snapshots...)
		s = next
	}
	return s, journal, all
}

func redactCmd(by *pb.Principal) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: by, AtMs: t0 + 9000, Body: &pb.OrderCommand_Redact{Redact: &pb.RedactOrder{}}}
}

func requireNothingPersonal(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, p := range personal {
		require.False(t, bytes.Contains(b, []byte(p)), "%s still holds %q", what, p)
	}
}

// TestRedact (issue #14): erasing a customer's order erases its
// addresses, coordinates, notes and reasons from its state, its row and
// every event of its journal, timeline and outbox, keeps its status
// history and payment, and fences the rewrite with an event of its own.
func TestRedact(t *testing.T) {
	t.Parallel()
	s, journal, before := redactFixture(t)
	for _, sn := range before.Snapshots { // the fixture does carry what must go
		require.True(t, bytes.Contains(sn.State, []byte("ring twice")))
	}

	for _, by := range []*pb.Principal{customer, theDriver} {
		_, rej := order.Decide(s, redactCmd(by))
		require.Equal(t, actors.CodeForbidden, rej.Code, "only the system (or an admin) redacts")
	}

	events, rej := order.Decide(s, redactCmd(system))
	require.Nil(t, rej)
	require.Len(t, events, 1)
	require.Equal(t, "order.redacted", order.EventType(events[0]))
	next := order.Number(s, orderID, events)
	require.True(t, next.Redacted)
	require.Equal(t, order.Failed, next.Status, "the status stays")
	require.Equal(t, s.Version+1, next.Version)
	c, err := order.Effects(s, next, events)
	require.NoError(t, err)
	require.Empty(t, c.Timeline, "a redaction is no step of the delivery (orders-by-day counts lines)")
	require.NoError(t, order.AddRedaction(&c, next, journal))

	row := c.Orders[0]
	require.Equal(t, order.ErasedAddress, row.Pickup.Address)
	require.Nil(t, row.Pickup.Lat)
	require.Equal(t, order.ErasedAddress, row.Dropoff.Address)
	require.Empty(t, row.Notes)
	require.Equal(t, s.CustomerId, row.CustomerID, "the customer id stays, an opaque reference")

	require.Len(t, c.Redactions, 1)
	red := c.Redactions[0]
	require.True(t, red.Order)
	require.Zero(t, red.PurgeBefore, "an order's journal is replayed (I4): rewritten, never cut")
	require.Len(t, red.Journal, 3, "created, declined and failed carry personal data")
	rewritten := map[int64][]byte{}
	for _, e := range red.Journal {
		requireNothingPersonal(t, e.Type, e.Payload)
		rewritten[e.Seq] = e.Payload
	}
	var redacted []actors.Event
	for _, e := range journal {
		if p, ok := rewritten[e.Seq]; ok {
			e.Payload = p
		} else {
			requireNothingPersonal(t, e.Type+" (not rewritten)", e.Payload)
		}
		redacted = append(redacted, e)
	}
	created := &pb.OrderEvent{}
	require.NoError(t, proto.Unmarshal(redacted[0].Payload, created))
	require.False(t, created.GetCreated().GetPickup().GetHasCoordinates(), "coordinates locate the customer too")
	require.Equal(t, order.Standard, created.GetCreated().GetDeliveryOption())

	for _, l := range red.Timeline {
		require.NotContains(t, l.Metadata, "reason")
		require.Contains(t, l.Metadata, "event")
	}
	require.Len(t, red.Outbox, len(journal), "every published form, rebuilt")
	for _, m := range append(red.Outbox, c.Outbox...) {
		requireNothingPersonal(t, "outbox "+m.ID, m.Payload)
	}
	require.NotEmpty(t, c.Snapshots)
	for _, sn := range c.Snapshots {
		require.Equal(t, next.Version, sn.Seq, "the snapshot replaces every older one")
		requireNothingPersonal(t, "snapshot", sn.State)
	}

	// The redacted journal replays to the redacted state.
	replayed, err := order.Restore(actors.Loaded{Events: append(redacted, c.Events...)})
	require.NoError(t, err)
	require.True(t, proto.Equal(next, replayed))

	// Once redacted, a repeat changes nothing.
	events, rej = order.Decide(next, redactCmd(system))
	require.Nil(t, rej)
	require.Empty(t, events)
}

package order_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// commitStep is one command as the host runs it: decide, number, effects.
type commitStep struct {
	prev, next *pb.OrderState
	events     []*pb.OrderEvent
	commit     actors.Commit
}

func runCommit(t *testing.T, s *pb.OrderState, cmd *pb.OrderCommand) commitStep {
	t.Helper()
	events, rej := order.Decide(s, cmd)
	require.Nil(t, rej)
	require.NotEmpty(t, events)
	next := order.Number(s, orderID, events)
	c, err := order.Effects(s, next, events)
	require.NoError(t, err)
	return commitStep{prev: s, next: next, events: events, commit: c}
}

// lifecycle is a ten-event history: two declines, then delivery. It
// crosses two snapshot boundaries (SnapshotEvery = 5).
func lifecycle(at func(i int) int64) []*pb.OrderCommand {
	cmds := []*pb.OrderCommand{
		createCmd(customer, validCreate()),
		assignCmd(admin, driverID),
		declineCmd(theDriver, "too far"),
		assignCmd(admin, otherDriverID),
		declineCmd(otherDriver, ""),
		assignCmd(admin, driverID),
		acceptCmd(theDriver),
		statusCmd(theDriver, order.PickedUp, ""),
		statusCmd(theDriver, order.InTransit, ""),
		statusCmd(theDriver, order.Delivered, ""),
	}
	for i, c := range cmds {
		c.AtMs = at(i)
		if a := c.GetAssign(); a != nil {
			a.OfferExpiresAtMs = c.AtMs + offerTTL
		}
	}
	return cmds
}

type wantStep struct {
	typ    string
	status string
	loads  []actors.DriverLoad
	meta   map[string]string
}

func TestEffectsLifecycle(t *testing.T) {
	t.Parallel()
	cmds := lifecycle(func(i int) int64 { return t0 + int64(i)*60_000 + 123 })
	want := []wantStep{
		{"order.created", order.Pending, nil, map[string]string{"event": "order.created"}},
		{"order.assigned", order.Assigned, []actors.DriverLoad{{DriverID: driverID, Delta: 1}}, map[string]string{"event": "order.assigned", "driver_id": driverID}},
		{"order.declined", order.Pending, []actors.DriverLoad{{DriverID: driverID, Delta: -1}}, map[string]string{"event": "order.declined", "driver_id": driverID, "reason": "too far"}},
		{"order.assigned", order.Assigned, []actors.DriverLoad{{DriverID: otherDriverID, Delta: 1}}, map[string]string{"event": "order.assigned", "driver_id": otherDriverID}},
		{"order.declined", order.Pending, []actors.DriverLoad{{DriverID: otherDriverID, Delta: -1}}, map[string]string{"event": "order.declined", "driver_id": otherDriverID}},
		{"order.assigned", order.Assigned, []actors.DriverLoad{{DriverID: driverID, Delta: 1}}, map[string]string{"event": "order.assigned", "driver_id": driverID}},
		{"order.accepted", order.Accepted, nil, map[string]string{"event": "order.accepted", "driver_id": driverID}},
		{"order.status_changed", order.PickedUp, nil, map[string]string{"event": "order.status_changed", "from": order.Accepted}},
		{"order.status_changed", order.InTransit, nil, map[string]string{"event": "order.status_changed", "from": order.PickedUp}},
		{"order.status_changed", order.Delivered, []actors.DriverLoad{{DriverID: driverID, Delta: -1}}, map[string]string{"event": "order.status_changed", "from": order.InTransit}},
	}
	require.Len(t, want, len(cmds))

	var (
		s         *pb.OrderState
		journal   []actors.Event
		snapshots []actors.Snapshot
		loadSum   = map[string]int{}
		offerSeq  int64 // the open offer's seq
	)
	for i, cmd := range cmds {
		seq := int64(i + 1)
		st := runCommit(t, s, cmd)
		c, w := st.commit, want[i]
		at := time.UnixMilli(cmd.AtMs).UTC()
		if w.typ == "order.assigned" {
			w.meta["offer_id"] = wire.OfferID(orderID, seq)
			w.meta["offer_expires_at"] = wire.Timestamp(at.Add(offerTTL * time.Millisecond))
		}

		// Journal: one event, gap-free seq, decodes back to the event.
		require.Len(t, c.Events, 1)
		ev := c.Events[0]
		require.Equal(t, actors.KindOrder, ev.Kind)
		require.Equal(t, orderID, ev.EntityID)
		require.Equal(t, seq, ev.Seq)
		require.Equal(t, w.typ, ev.Type)
		require.Equal(t, cmd.CommandId, ev.CommandID)
		require.Equal(t, at, ev.At)
		decoded := &pb.OrderEvent{}
		require.NoError(t, proto.Unmarshal(ev.Payload, decoded))
		require.True(t, proto.Equal(st.events[0], decoded))
		require.Equal(t, seq, decoded.Seq)
		require.Equal(t, orderID, decoded.OrderId)

		// State and read model.
		require.Equal(t, w.status, st.next.Status)
		require.Equal(t, seq, st.next.Version)
		require.Equal(t, []actors.OrderRow{order.Row(st.next)}, c.Orders)

		// Timeline.
		require.Len(t, c.Timeline, 1)
		tl := c.Timeline[0]
		require.Equal(t, actors.TimelineEntry{
			OrderID: orderID, Seq: seq, Status: w.status,
			ByUserID: cmd.By.UserId, ByRole: cmd.By.Role, Metadata: w.meta, At: at,
		}, tl)

		// Driver capacity.
		require.Equal(t, w.loads, c.Loads, "loads at seq %d", seq)
		for _, l := range c.Loads {
			loadSum[l.DriverID] += l.Delta
			require.GreaterOrEqual(t, loadSum[l.DriverID], 0)
		}

		// Snapshot exactly at multiples of SnapshotEvery.
		if seq%order.SnapshotEvery == 0 {
			require.Len(t, c.Snapshots, 1, "seq %d", seq)
			snap := c.Snapshots[0]
			require.Equal(t, actors.KindOrder, snap.Kind)
			require.Equal(t, orderID, snap.EntityID)
			require.Equal(t, seq, snap.Seq)
			got := &pb.OrderState{}
			require.NoError(t, proto.Unmarshal(snap.State, got))
			require.True(t, proto.Equal(st.next, got))
			snapshots = append(snapshots, snap)
		} else {
			require.Empty(t, c.Snapshots, "seq %d", seq)
		}

		// The offer: an assignment arms its deadline and offers the job
		// to the driver; the offer leaving (accepted or declined) removes
		// the deadline. A driver who declines is not told about it.
		switch w.typ {
		case "order.assigned":
			require.Equal(t, []actors.Deadline{{ID: order.OfferDeadlineID(orderID, seq), Kind: actors.KindOrder,
				EntityID: orderID, DueAt: at.Add(offerTTL * time.Millisecond), Command: c.Deadlines[0].Command}}, c.Deadlines)
			expire := &pb.OrderCommand{}
			require.NoError(t, proto.Unmarshal(c.Deadlines[0].Command, expire))
			require.Equal(t, seq, expire.GetExpireOffer().GetOfferSeq())
			require.Equal(t, actors.RoleSystem, expire.GetBy().GetRole())
			require.Empty(t, c.DeadlinesDone)
			require.Len(t, c.Outbox, 2)
			job := c.Outbox[1]
			require.Equal(t, wire.JobSubject(st.next.DriverId), job.Subject)
			require.Equal(t, wire.JobEventID(orderID, seq), job.ID)
			var j wire.Job
			require.NoError(t, json.Unmarshal(job.Payload, &j))
			require.Equal(t, wire.JobOffered, j.Event)
			require.Equal(t, wire.OfferID(orderID, seq), j.OfferID)
			require.Equal(t, st.next.DriverId, j.DriverID)
			require.Equal(t, "1 Pickup St", j.Pickup.Address)
			offerSeq = seq
		case "order.accepted", "order.declined":
			require.Empty(t, c.Deadlines)
			require.Equal(t, []string{order.OfferDeadlineID(orderID, offerSeq)}, c.DeadlinesDone)
			require.Len(t, c.Outbox, 1)
		default:
			require.Empty(t, c.Deadlines)
			require.Empty(t, c.DeadlinesDone)
			require.Len(t, c.Outbox, 1)
		}

		// Outbox: the event first.
		msg := c.Outbox[0]
		require.Equal(t, order.EventID(orderID, seq), msg.ID)
		require.Equal(t, fmt.Sprintf("order:%s:%d", orderID, seq), msg.ID)
		require.Equal(t, "outrider.order."+orderID, msg.Subject)
		require.Equal(t, order.Subject(orderID), msg.Subject)
		require.Equal(t, at, msg.At)

		// No other effects.
		require.Empty(t, c.Drivers)
		require.Empty(t, c.Users)

		journal = append(journal, ev)
		s = st.next
	}
	require.Equal(t, map[string]int{driverID: 0, otherDriverID: 0}, loadSum, "every reservation released")
	require.Len(t, snapshots, 2)

	// Restore from the full journal equals the live state.
	full, err := order.Restore(actors.Loaded{Events: journal})
	require.NoError(t, err)
	require.True(t, proto.Equal(s, full))

	// Restore from each snapshot plus its tail equals full replay.
	for _, snap := range snapshots {
		snap := snap
		got, err := order.Restore(actors.Loaded{Snapshot: &snap, Events: journal[snap.Seq:]})
		require.NoError(t, err)
		require.True(t, proto.Equal(full, got), "snapshot %d + tail", snap.Seq)
	}
	// An empty Loaded is a not-yet-created order.
	empty, err := order.Restore(actors.Loaded{})
	require.NoError(t, err)
	require.False(t, order.Exists(empty))
}

// All events of one Decide can be committed at once; numbering and
// effects still hold per event.
func TestEffectsBatch(t *testing.T) {
	t.Parallel()
	cmds := lifecycle(func(i int) int64 { return t0 + int64(i) })
	// Collect the events one by one, as if decided in sequence, then number
	// and commit them in one batch from the empty state.
	var s *pb.OrderState
	var all []*pb.OrderEvent
	for _, cmd := range cmds {
		events, rej := order.Decide(s, cmd)
		require.Nil(t, rej)
		s = order.Number(s, orderID, events) // temporarily numbered
		all = append(all, events...)
	}
	for _, e := range all {
		e.Seq, e.OrderId = 0, ""
	}
	next := order.Number(nil, "o-batch", all)
	c, err := order.Effects(nil, next, all)
	require.NoError(t, err)
	require.Len(t, c.Events, len(all))
	for i, e := range c.Events {
		require.Equal(t, int64(i+1), e.Seq)
		require.Equal(t, "o-batch", e.EntityID)
	}
	require.Len(t, c.Timeline, len(all))
	// One message per event, and a job.offered per assignment.
	var events, jobs int
	for _, m := range c.Outbox {
		switch m.Subject {
		case order.Subject("o-batch"):
			events++
		default:
			jobs++
		}
	}
	require.Equal(t, len(all), events)
	require.Equal(t, 3, jobs)
	var snapSeqs []int64
	for _, sn := range c.Snapshots {
		snapSeqs = append(snapSeqs, sn.Seq)
	}
	require.Equal(t, []int64{5, 10}, snapSeqs)
	require.Len(t, c.Orders, 1)
	require.Equal(t, order.Row(next), c.Orders[0])
	require.Equal(t, order.Delivered, next.Status)
	// Number continues from a version.
	more := []*pb.OrderEvent{{Body: &pb.OrderEvent_Accepted{Accepted: &pb.OrderAccepted{}}}}
	n := order.Number(&pb.OrderState{Version: 41}, "o", more)
	require.Equal(t, int64(42), more[0].Seq)
	require.Equal(t, int64(42), n.Version)
}

// Capacity changes of the side exits.
func TestEffectsLoads(t *testing.T) {
	t.Parallel()
	create := func() *pb.OrderCommand { return createCmd(customer, validCreate()) }
	assign := func() *pb.OrderCommand { return assignCmd(admin, driverID) }
	accept := func() *pb.OrderCommand { return acceptCmd(theDriver) }
	to := func(st string, by *pb.Principal, reason string) func() *pb.OrderCommand {
		return func() *pb.OrderCommand { return statusCmd(by, st, reason) }
	}
	release := []actors.DriverLoad{{DriverID: driverID, Delta: -1}}
	cases := []struct {
		name  string
		path  []func() *pb.OrderCommand
		last  func() *pb.OrderCommand
		loads []actors.DriverLoad
	}{
		{"customer cancels pending", []func() *pb.OrderCommand{create}, to(order.Cancelled, customer, ""), nil},
		{"admin cancels pending", []func() *pb.OrderCommand{create}, to(order.Cancelled, admin, ""), nil},
		{"customer cancels assigned", []func() *pb.OrderCommand{create, assign}, to(order.Cancelled, customer, ""), release},
		{"customer cancels accepted", []func() *pb.OrderCommand{create, assign, accept}, to(order.Cancelled, customer, ""), release},
		{"admin cancels picked_up", []func() *pb.OrderCommand{create, assign, accept, to(order.PickedUp, theDriver, "")}, to(order.Cancelled, admin, ""), release},
		{"admin cancels in_transit", []func() *pb.OrderCommand{create, assign, accept, to(order.PickedUp, theDriver, ""), to(order.InTransit, admin, "")}, to(order.Cancelled, admin, ""), release},
		{"driver fails accepted", []func() *pb.OrderCommand{create, assign, accept}, to(order.Failed, theDriver, "closed"), release},
		{"admin fails in_transit", []func() *pb.OrderCommand{create, assign, accept, to(order.PickedUp, theDriver, ""), to(order.InTransit, theDriver, "")}, to(order.Failed, admin, "lost"), release},
		{"admin delivers", []func() *pb.OrderCommand{create, assign, accept, to(order.PickedUp, admin, ""), to(order.InTransit, admin, "")}, to(order.Delivered, admin, ""), release},
		{"pick up holds", []func() *pb.OrderCommand{create, assign, accept}, to(order.PickedUp, theDriver, ""), nil},
		{"decline releases", []func() *pb.OrderCommand{create, assign}, func() *pb.OrderCommand { return declineCmd(theDriver, "") }, release},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var s *pb.OrderState
			for _, p := range tc.path {
				s = runCommit(t, s, p()).next
			}
			st := runCommit(t, s, tc.last())
			require.Equal(t, tc.loads, st.commit.Loads)
		})
	}
}

func TestRestoreDetectsGap(t *testing.T) {
	t.Parallel()
	var s *pb.OrderState
	var journal []actors.Event
	var snaps []actors.Snapshot
	for _, cmd := range lifecycle(func(i int) int64 { return t0 + int64(i) }) {
		st := runCommit(t, s, cmd)
		journal = append(journal, st.commit.Events...)
		snaps = append(snaps, st.commit.Snapshots...)
		s = st.next
	}
	snap5 := snaps[0]
	require.Equal(t, int64(5), snap5.Seq)
	cases := []struct {
		name   string
		loaded actors.Loaded
	}{
		{"first event missing", actors.Loaded{Events: journal[1:]}},
		{"middle event missing", actors.Loaded{Events: append(append([]actors.Event{}, journal[:4]...), journal[5:]...)}},
		{"duplicate event", actors.Loaded{Events: append(append([]actors.Event{}, journal[:4]...), journal[3:]...)}},
		{"out of order", actors.Loaded{Events: []actors.Event{journal[0], journal[2], journal[1]}}},
		{"snapshot then gap", actors.Loaded{Snapshot: &snap5, Events: journal[6:]}},
		{"snapshot then overlap", actors.Loaded{Snapshot: &snap5, Events: journal[4:]}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := order.Restore(tc.loaded)
			require.Error(t, err)
			require.Contains(t, err.Error(), "gap")
		})
	}
	t.Run("corrupt payload", func(t *testing.T) {
		t.Parallel()
		bad := journal[0]
		bad.Payload = []byte{0xff, 0xff, 0xff}
		_, err := order.Restore(actors.Loaded{Events: []actors.Event{bad}})
		require.Error(t, err)
	})
	t.Run("corrupt snapshot", func(t *testing.T) {
		t.Parallel()
		bad := snap5
		bad.State = []byte{0xff, 0xff, 0xff}
		_, err := order.Restore(actors.Loaded{Snapshot: &bad})
		require.Error(t, err)
	})
}

// publishedOrderKeys is the public order shape (DESIGN.md §3).
var publishedOrderKeys = []string{
	"id", "customer_id", "driver_id", "pickup", "dropoff", "delivery_option", "scheduled_for",
	"payment_status", "status", "notes", "version", "offer_expires_at", "created_at", "updated_at",
}

func decodeOutbox(t *testing.T, msg actors.OutboxMessage) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(msg.Payload, &m))
	return m
}

func requireRFC3339(t *testing.T, v any, want time.Time) {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "timestamp %v is not a string", v)
	got, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err, s)
	require.True(t, want.Equal(got), "%s != %s", s, want)
	require.Equal(t, "Z", s[len(s)-1:], "UTC: %s", s)
}

func TestOutboxPayload(t *testing.T) {
	t.Parallel()
	createdAt := t0 + 456 // non-zero milliseconds
	create := createCmd(customer, validCreate())
	create.AtMs = createdAt
	st := runCommit(t, nil, create)
	m := decodeOutbox(t, st.commit.Outbox[0])

	require.ElementsMatch(t, []string{"id", "type", "order_id", "seq", "at", "by", "order"}, keys(m))
	require.Equal(t, order.EventID(orderID, 1), m["id"])
	require.Equal(t, "order.created", m["type"])
	require.Equal(t, orderID, m["order_id"])
	require.EqualValues(t, 1, m["seq"])
	requireRFC3339(t, m["at"], time.UnixMilli(createdAt))
	require.Equal(t, map[string]any{"user_id": customerID, "role": actors.RoleCustomer}, m["by"])

	o := m["order"].(map[string]any)
	require.ElementsMatch(t, publishedOrderKeys, keys(o))
	require.Equal(t, orderID, o["id"])
	require.Equal(t, customerID, o["customer_id"])
	require.Contains(t, o, "driver_id")
	require.Nil(t, o["driver_id"], "driver_id is null when there is no driver")
	require.Nil(t, o["scheduled_for"], "scheduled_for is null for a standard order")
	require.Equal(t, map[string]any{"address": "1 Pickup St", "lat": 52.5, "lng": 13.4}, o["pickup"])
	require.Equal(t, map[string]any{"address": "2 Dropoff Rd"}, o["dropoff"], "lat/lng omitted without coordinates")
	require.Equal(t, order.Standard, o["delivery_option"])
	require.Equal(t, "unpaid", o["payment_status"])
	require.Equal(t, order.Pending, o["status"])
	require.Equal(t, "ring twice", o["notes"])
	require.EqualValues(t, 1, o["version"])
	requireRFC3339(t, o["created_at"], time.UnixMilli(createdAt))
	requireRFC3339(t, o["updated_at"], time.UnixMilli(createdAt))

	// After assign: driver_id is the driver, updated_at moves, created_at stays.
	assign := assignCmd(admin, driverID)
	assign.AtMs = createdAt + 61_001
	assign.GetAssign().OfferExpiresAtMs = assign.AtMs + offerTTL
	st2 := runCommit(t, st.next, assign)
	m2 := decodeOutbox(t, st2.commit.Outbox[0])
	require.Equal(t, order.EventID(orderID, 2), m2["id"])
	require.Equal(t, st2.commit.Outbox[0].ID, m2["id"])
	require.Equal(t, "order.assigned", m2["type"])
	require.EqualValues(t, 2, m2["seq"])
	require.Equal(t, map[string]any{"user_id": adminID, "role": actors.RoleAdmin}, m2["by"])
	o2 := m2["order"].(map[string]any)
	require.Equal(t, driverID, o2["driver_id"])
	require.Equal(t, order.Assigned, o2["status"])
	require.EqualValues(t, 2, o2["version"])
	requireRFC3339(t, o2["created_at"], time.UnixMilli(createdAt))
	requireRFC3339(t, o2["updated_at"], time.UnixMilli(createdAt+61_001))

	// A declined order is back to a null driver.
	st3 := runCommit(t, st2.next, declineCmd(theDriver, ""))
	o3 := decodeOutbox(t, st3.commit.Outbox[0])["order"].(map[string]any)
	require.Nil(t, o3["driver_id"])
	require.Equal(t, order.Pending, o3["status"])

	// A scheduled order publishes scheduled_for as RFC 3339.
	sc := validCreate()
	sc.DeliveryOption, sc.ScheduledForMs = order.Scheduled, t0+86_400_000+789
	st4 := runCommit(t, nil, createCmd(admin, func() *pb.CreateOrder { sc.CustomerId = customerID; return sc }()))
	o4 := decodeOutbox(t, st4.commit.Outbox[0])["order"].(map[string]any)
	requireRFC3339(t, o4["scheduled_for"], time.UnixMilli(sc.ScheduledForMs))
	require.Equal(t, order.Scheduled, o4["delivery_option"])
}

func TestEventID(t *testing.T) {
	t.Parallel()
	require.Equal(t, "order:o1:1", order.EventID("o1", 1))
	require.Equal(t, "order:abc:1234567890123", order.EventID("abc", 1234567890123))
	require.NotEqual(t, order.EventID("o1", 12), order.EventID("o11", 2))
}

func TestRow(t *testing.T) {
	t.Parallel()
	s := &pb.OrderState{
		Id: orderID, CustomerId: customerID, DriverId: driverID,
		Pickup:  &pb.Place{Address: "p", HasCoordinates: true, Lat: 0, Lng: 0},
		Dropoff: nil, DeliveryOption: order.Scheduled, ScheduledForMs: t0 + 5,
		PaymentStatus: "unpaid", Status: order.Accepted, Notes: "n", Version: 3,
		CreatedAtMs: t0, UpdatedAtMs: t0 + 9,
	}
	r := order.Row(s)
	zero := 0.0
	sched := time.UnixMilli(t0 + 5).UTC()
	require.Equal(t, actors.OrderRow{
		ID: orderID, CustomerID: customerID, DriverID: driverID,
		Pickup:  actors.Place{Address: "p", Lat: &zero, Lng: &zero}, // (0,0) is a real coordinate
		Dropoff: actors.Place{}, DeliveryOption: order.Scheduled, ScheduledFor: &sched,
		PaymentStatus: "unpaid", Status: order.Accepted, Notes: "n", Version: 3,
		CreatedAt: time.UnixMilli(t0).UTC(), UpdatedAt: time.UnixMilli(t0 + 9).UTC(),
	}, r)
	require.Nil(t, order.Row(&pb.OrderState{}).ScheduledFor)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

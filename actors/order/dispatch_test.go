package order_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// The dispatch rules of DESIGN.md §7, the order's side: a run offers the
// order to one driver at a time, never twice to the same driver, and
// escalates after max_attempts offers or its deadline; an admin's hand
// stops it.

const (
	runDeadline = t0 + 600_000 // the runs of autoCreate escalate then
	maxAttempts = 3
)

func request(startsAt int64) *pb.DispatchRequest {
	return &pb.DispatchRequest{StartsAtMs: startsAt, DeadlineAtMs: runDeadline, MaxAttempts: maxAttempts}
}

// autoCreate creates an auto-dispatched order (run 1, searching).
func autoCreate() *pb.OrderCommand {
	c := validCreate()
	c.Dispatch = request(t0)
	return createCmd(customer, c)
}

// engineAssign is the engine's offer of run to driver at atMs.
func engineAssign(run int64, driver string, atMs int64) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: order.EnginePrincipal, AtMs: atMs,
		Body: &pb.OrderCommand_Assign{Assign: &pb.AssignDriver{DriverId: driver, OfferExpiresAtMs: atMs + 45_000,
			HasDistance: true, DistanceM: 420,
			Dispatch: &pb.DispatchOffer{Run: run, Score: 420, RadiusM: 5000, Considered: 2,
				Candidates: []*pb.DispatchCandidate{{DriverId: driver, DistanceM: 420, Score: 420}}}}}}
}

func declineAt(by *pb.Principal, atMs int64) *pb.OrderCommand {
	return at(declineCmd(by, "too far"), atMs)
}

func startDispatch(by *pb.Principal, atMs int64) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: by, AtMs: atMs,
		Body: &pb.OrderCommand_StartDispatch{StartDispatch: &pb.StartDispatch{Request: request(atMs)}}}
}

func escalate(run, atMs int64) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: order.EnginePrincipal, AtMs: atMs,
		Body: &pb.OrderCommand_EscalateDispatch{EscalateDispatch: &pb.EscalateDispatch{Run: run, Reason: order.EscalatedDeadline}}}
}

func driverP(id string) *pb.Principal { return &pb.Principal{UserId: id, Role: actors.RoleDriver} }

// decide runs cmd on s and returns the commit and the state after it.
func decide(t *testing.T, s *pb.OrderState, cmd *pb.OrderCommand) (*pb.OrderState, actors.Commit, []string) {
	t.Helper()
	events, rej := order.Decide(s, cmd)
	require.Nil(t, rej)
	next := order.Number(s, orderID, events)
	c, err := order.Effects(s, next, events)
	require.NoError(t, err)
	var types []string
	for _, e := range c.Events {
		types = append(types, e.Type)
	}
	return next, c, types
}

// roundRow is the dispatch deadline a commit arms, decoded; nil if none.
func roundRow(t *testing.T, c actors.Commit) (*actors.Deadline, *pb.DispatchRound) {
	t.Helper()
	for _, d := range c.Deadlines {
		if d.Kind != order.DeadlineDispatch {
			continue
		}
		require.Equal(t, order.DispatchDeadlineID(orderID), d.ID)
		r := &pb.DispatchRound{}
		require.NoError(t, proto.Unmarshal(d.Command, r))
		return &d, r
	}
	return nil, nil
}

func TestDispatchCreateStartsARun(t *testing.T) {
	t.Parallel()
	s, c, types := decide(t, nil, autoCreate())
	require.Equal(t, []string{"order.created", "order.dispatch_started"}, types)
	d := order.DispatchOf(s)
	require.Equal(t, order.DispatchAuto, d.Mode)
	require.Equal(t, order.DispatchSearching, d.State)
	require.Equal(t, int64(1), d.Run)
	row, round := roundRow(t, c)
	require.NotNil(t, row, "the first round is armed")
	require.Equal(t, t0+order.RoundGrace.Milliseconds(), row.DueAt.UnixMilli(), "kicked at once; the row is the safety net")
	require.True(t, row.Kick, "its node fires it at once")
	require.Equal(t, int64(1), round.Run)
	require.InDelta(t, 52.5, round.Lat, 0)
	require.Empty(t, round.Cooled)

	// A scheduled order's first round is due at the run's start.
	sc := validCreate()
	sc.DeliveryOption, sc.ScheduledForMs = order.Scheduled, t0+3_600_000
	sc.Dispatch = &pb.DispatchRequest{StartsAtMs: t0 + 1_800_000, DeadlineAtMs: t0 + 2_400_000, MaxAttempts: maxAttempts}
	_, c, _ = decide(t, nil, createCmd(customer, sc))
	row, _ = roundRow(t, c)
	require.Equal(t, t0+1_800_000, row.DueAt.UnixMilli(), "a later round is its row's, on time")
	require.False(t, row.Kick)

	// Manual orders carry no dispatch state and arm nothing.
	s, c, _ = decide(t, nil, createCmd(customer, validCreate()))
	require.Nil(t, s.Dispatch)
	require.Equal(t, order.DispatchManual, order.DispatchOf(s).Mode)
	require.Empty(t, c.Deadlines)

	// Automatic dispatch needs the pickup's coordinates.
	noCoords := validCreate()
	noCoords.Pickup.HasCoordinates = false
	noCoords.Dispatch = request(t0)
	_, rej := order.Decide(nil, createCmd(customer, noCoords))
	require.NotNil(t, rej)
	require.Equal(t, actors.CodeLocationRequired, rej.Code)
}

// TestDispatchCascade walks a run through declines and an expiry: every
// offer cools its driver, each end of an offer re-arms a round with the
// cooled drivers, and the last permitted offer's end escalates.
func TestDispatchCascade(t *testing.T) {
	t.Parallel()
	s := build(t, autoCreate())
	now := t0 + 1000
	var c actors.Commit
	var types []string

	s, c, types = decide(t, s, engineAssign(1, "d1", now))
	require.Equal(t, []string{"order.assigned"}, types)
	require.Equal(t, []string{order.DispatchDeadlineID(orderID)}, c.DeadlinesDone, "an offer ends the round")
	require.Equal(t, order.DispatchOffered, order.DispatchOf(s).State)

	// The same driver is never offered twice in a run.
	s, _, _ = decide(t, s, declineAt(driverP("d1"), now+10))
	_, rej := order.Decide(s, engineAssign(1, "d1", now+20))
	require.NotNil(t, rej)
	require.Equal(t, actors.CodeDriverUnavailable, rej.Code)

	// An offer for another run is refused.
	_, rej = order.Decide(s, engineAssign(2, "d2", now+20))
	require.NotNil(t, rej)
	require.Equal(t, actors.CodeInvalidTransition, rej.Code)

	s, _, _ = decide(t, s, engineAssign(1, "d2", now+20))
	s, c, types = decide(t, s, expireCmd(system, s.OfferSeq, s.OfferExpiresAtMs))
	require.Equal(t, []string{"order.offer_expired"}, types)
	_, round := roundRow(t, c)
	require.NotNil(t, round, "an expiry re-arms a round")
	require.Equal(t, []string{"d1", "d2"}, round.Cooled)

	s, _, _ = decide(t, s, engineAssign(1, "d3", s.UpdatedAtMs+10))
	lastOffer := s.OfferSeq
	s, c, types = decide(t, s, declineAt(driverP("d3"), s.UpdatedAtMs+10))
	require.Equal(t, []string{"order.declined", "order.dispatch_failed"}, types, "the third offer was the last")
	require.Empty(t, c.Deadlines)
	require.Contains(t, c.DeadlinesDone, order.OfferDeadlineID(orderID, lastOffer))

	d := order.DispatchOf(s)
	require.Equal(t, order.DispatchFailed, d.State)
	require.Equal(t, order.EscalatedMaxAttempts, d.EscalationReason)
	require.Equal(t, order.Pending, s.Status, "an escalated order waits for an admin")
	var outcomes []string
	for _, a := range d.Attempts {
		outcomes = append(outcomes, a.DriverId+":"+a.Outcome)
		require.NotZero(t, a.DecidedAtMs)
		require.Len(t, a.Candidates, 1)
	}
	require.Equal(t, []string{"d1:declined", "d2:expired", "d3:declined"}, outcomes)

	// The engine cannot offer any more; an admin can start a new run,
	// which forgets the cooled drivers.
	_, rej = order.Decide(s, engineAssign(1, "d4", s.UpdatedAtMs+10))
	require.NotNil(t, rej)
	s, c, _ = decide(t, s, startDispatch(admin, s.UpdatedAtMs+10))
	_, round = roundRow(t, c)
	require.Equal(t, int64(2), round.Run)
	require.Empty(t, round.Cooled)
	s, _, _ = decide(t, s, engineAssign(2, "d1", s.UpdatedAtMs+10))
	s, _, types = decide(t, s, at(acceptCmd(driverP("d1")), s.UpdatedAtMs+10))
	require.Equal(t, []string{"order.accepted"}, types)
	d = order.DispatchOf(s)
	require.Equal(t, order.DispatchAccepted, d.State)
	require.Len(t, d.Attempts, 4, "attempts of every run are kept")
	require.Equal(t, order.OutcomeAccepted, d.Attempts[3].Outcome)
}

func TestDispatchDeadline(t *testing.T) {
	t.Parallel()
	// The engine escalates a searching run once its deadline passed, and
	// not before.
	s := build(t, autoCreate())
	_, rej := order.Decide(s, escalate(1, runDeadline-1))
	require.NotNil(t, rej)
	require.Equal(t, actors.CodeInvalidTransition, rej.Code)
	_, rej = order.Decide(s, &pb.OrderCommand{CommandId: nextCmdID(), By: admin, AtMs: runDeadline,
		Body: &pb.OrderCommand_EscalateDispatch{EscalateDispatch: &pb.EscalateDispatch{Run: 1}}})
	require.NotNil(t, rej)
	require.Equal(t, actors.CodeForbidden, rej.Code)
	next, c, types := decide(t, s, escalate(1, runDeadline))
	require.Equal(t, []string{"order.dispatch_failed"}, types)
	require.Equal(t, []string{order.DispatchDeadlineID(orderID)}, c.DeadlinesDone)
	require.Equal(t, order.EscalatedDeadline, order.DispatchOf(next).EscalationReason)

	// An offer that ends after the deadline escalates with it.
	s = step(t, s, engineAssign(1, "d1", runDeadline-100))
	_, _, types = decide(t, s, declineAt(driverP("d1"), runDeadline+1))
	require.Equal(t, []string{"order.declined", "order.dispatch_failed"}, types)
}

func TestDispatchStops(t *testing.T) {
	t.Parallel()
	searching := func(t *testing.T) *pb.OrderState { return build(t, autoCreate()) }
	offeredByEngine := func(t *testing.T) *pb.OrderState {
		return step(t, searching(t), engineAssign(1, driverID, t0+1000))
	}
	for _, tc := range []struct {
		name    string
		state   func(*testing.T) *pb.OrderState
		cmd     *pb.OrderCommand
		reason  string
		outcome string // of the engine's open offer, if any
	}{
		{name: "an admin assigns while searching", state: searching, cmd: assignCmd(admin, otherDriverID), reason: "assigned by an admin"},
		{name: "an admin unassigns the engine's offer", state: offeredByEngine, cmd: unassignCmd(admin, t0+1500),
			reason: "unassigned by an admin", outcome: order.OutcomeUnassigned},
		{name: "the customer cancels while searching", state: searching, cmd: statusCmd(customer, order.Cancelled, ""), reason: "cancelled"},
		{name: "the customer cancels the offered order", state: offeredByEngine, cmd: statusCmd(customer, order.Cancelled, ""),
			reason: "cancelled", outcome: order.OutcomeCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.state(t)
			next, c, _ := decide(t, s, tc.cmd)
			d := order.DispatchOf(next)
			require.Equal(t, order.DispatchStopped, d.State)
			require.Equal(t, tc.reason, d.StoppedReason)
			if tc.outcome != "" {
				require.Equal(t, tc.outcome, d.Attempts[len(d.Attempts)-1].Outcome)
			}
			if order.DispatchOf(s).State == order.DispatchSearching {
				require.Contains(t, c.DeadlinesDone, order.DispatchDeadlineID(orderID), "the round goes")
			}
			// The engine's next offer of that run is refused.
			_, rej := order.Decide(next, engineAssign(1, "d9", t0+5000))
			require.NotNil(t, rej)
		})
	}
}

func TestStartDispatch(t *testing.T) {
	t.Parallel()
	pending := func(t *testing.T) *pb.OrderState { return build(t, createCmd(customer, validCreate())) }
	for _, tc := range []struct {
		name  string
		state func(*testing.T) *pb.OrderState
		by    *pb.Principal
		want  string // rejection code, "" for started
	}{
		{name: "an admin starts a manual order's run", state: pending, by: admin},
		{name: "customers do not", state: pending, by: customer, want: actors.CodeForbidden},
		{name: "nor drivers", state: pending, by: theDriver, want: actors.CodeForbidden},
		{name: "not twice at once", state: func(t *testing.T) *pb.OrderState { return build(t, autoCreate()) },
			by: admin, want: actors.CodeDispatchInProgress},
		{name: "not an assigned order", state: assigned, by: admin, want: actors.CodeInvalidTransition},
		{name: "not without coordinates", state: func(t *testing.T) *pb.OrderState {
			c := validCreate()
			c.Pickup.HasCoordinates = false
			return build(t, createCmd(customer, c))
		}, by: admin, want: actors.CodeLocationRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, rej := order.Decide(tc.state(t), startDispatch(tc.by, t0+100))
			if tc.want != "" {
				require.NotNil(t, rej)
				require.Equal(t, tc.want, rej.Code)
				return
			}
			require.Nil(t, rej)
			require.Len(t, events, 1)
			require.Equal(t, "order.dispatch_started", order.EventType(events[0]))
		})
	}
}

// TestDispatchAttemptsKept: an order that is dispatched again and again
// keeps its most recent MaxAttemptsKept offers.
func TestDispatchAttemptsKept(t *testing.T) {
	t.Parallel()
	s := build(t, autoCreate())
	now := t0 + 1000
	for i := range order.MaxAttemptsKept + 5 {
		d := order.DispatchOf(s)
		if d.State != order.DispatchSearching {
			s = step(t, s, startDispatch(admin, now))
			d = order.DispatchOf(s)
		}
		driver := "d" + string(rune('a'+i%26))
		s = step(t, s, engineAssign(d.Run, driver, now))
		s = step(t, s, declineAt(driverP(driver), now+1))
		now += 10
	}
	d := order.DispatchOf(s)
	require.Len(t, d.Attempts, order.MaxAttemptsKept)
	require.Equal(t, "d"+string(rune('a'+order.MaxAttemptsKept+4)), d.Attempts[order.MaxAttemptsKept-1].DriverId)
}

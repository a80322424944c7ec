package order_test

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// The offer rules of DESIGN.md §7: an assignment is an offer that expires;
// accepting claims it only before the deadline; the deadline, a decline
// or an admin's unassign returns the order to pending and frees the
// driver; the driver is told what is withdrawn.

const offered = t0 + 1000 // when assignCmd offers

func expireCmd(by *pb.Principal, seq, at int64) *pb.OrderCommand {
	c := order.ExpireCommand(orderID, seq)
	c.By, c.AtMs = by, at
	return c
}

func unassignCmd(by *pb.Principal, at int64) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: by, AtMs: at,
		Body: &pb.OrderCommand_Unassign{Unassign: &pb.UnassignOrder{Reason: "driver stuck"}}}
}

func at(c *pb.OrderCommand, ms int64) *pb.OrderCommand {
	c.AtMs = ms
	return c
}

// assigned is an order offered to driverID (event seq 2).
func assigned(t *testing.T) *pb.OrderState {
	return build(t, createCmd(customer, validCreate()), assignCmd(admin, driverID))
}

// jobs decodes the job messages of a commit.
func jobs(t *testing.T, c actors.Commit) []wire.Job {
	t.Helper()
	var out []wire.Job
	for _, m := range c.Outbox {
		if m.Subject == order.Subject(orderID) {
			continue
		}
		var j wire.Job
		require.NoError(t, json.Unmarshal(m.Payload, &j))
		require.Equal(t, wire.JobSubject(j.DriverID), m.Subject)
		out = append(out, j)
	}
	return out
}

func TestOffers(t *testing.T) {
	t.Parallel()
	accepted := func(t *testing.T) *pb.OrderState { return step(t, assigned(t), acceptCmd(theDriver)) }
	pickedUp := func(t *testing.T) *pb.OrderState {
		return step(t, accepted(t), statusCmd(theDriver, order.PickedUp, ""))
	}
	deadline := offered + offerTTL
	for _, tc := range []struct {
		name  string
		state func(t *testing.T) *pb.OrderState
		cmd   *pb.OrderCommand
		// want: the event type, or the rejection code when reject is set.
		want   string
		reject bool
		// What the event does to the offer (when not rejected).
		load      int    // the driver's capacity change
		done      bool   // the offer's deadline is removed
		withdrawn string // the reason the driver is told, "" for no message
	}{
		{name: "accepted before the deadline", state: assigned, cmd: at(acceptCmd(theDriver), deadline-1),
			want: "order.accepted", done: true},
		{name: "accepted at the deadline is too late", state: assigned, cmd: at(acceptCmd(theDriver), deadline),
			want: actors.CodeOfferExpired, reject: true},
		{name: "accepted after the deadline, expiry not fired yet", state: assigned, cmd: at(acceptCmd(theDriver), deadline+5000),
			want: actors.CodeOfferExpired, reject: true},
		{name: "declined after the deadline still frees the driver", state: assigned, cmd: at(declineCmd(theDriver, ""), deadline+5000),
			want: "order.declined", load: -1, done: true},
		{name: "the deadline fires on an open offer", state: assigned, cmd: expireCmd(system, 2, deadline),
			want: "order.offer_expired", load: -1, done: true, withdrawn: order.WithdrawnExpired},
		{name: "the deadline fires after the accept: nothing to do", state: accepted, cmd: expireCmd(system, 2, deadline),
			want: actors.CodeInvalidTransition, reject: true},
		{name: "a deadline of an earlier offer: nothing to do", state: assigned, cmd: expireCmd(system, 1, deadline),
			want: actors.CodeInvalidTransition, reject: true},
		{name: "only the system expires offers", state: assigned, cmd: expireCmd(admin, 2, deadline),
			want: actors.CodeForbidden, reject: true},
		{name: "unassign an open offer", state: assigned, cmd: unassignCmd(admin, offered+10),
			want: "order.unassigned", load: -1, done: true, withdrawn: order.WithdrawnUnassigned},
		{name: "unassign an accepted order", state: accepted, cmd: unassignCmd(admin, offered+10),
			want: "order.unassigned", load: -1, withdrawn: order.WithdrawnUnassigned},
		{name: "no unassign once picked up", state: pickedUp, cmd: unassignCmd(admin, offered+10),
			want: actors.CodeInvalidTransition, reject: true},
		{name: "no unassign of a pending order", state: func(t *testing.T) *pb.OrderState {
			return build(t, createCmd(customer, validCreate()))
		}, cmd: unassignCmd(admin, offered+10), want: actors.CodeInvalidTransition, reject: true},
		{name: "drivers do not unassign", state: accepted, cmd: unassignCmd(theDriver, offered+10),
			want: actors.CodeForbidden, reject: true},
		{name: "cancelling an offered order withdraws the job", state: assigned, cmd: statusCmd(customer, order.Cancelled, ""),
			want: "order.status_changed", load: -1, done: true, withdrawn: order.WithdrawnCancelled},
		{name: "cancelling an accepted order withdraws the job", state: accepted, cmd: statusCmd(admin, order.Cancelled, ""),
			want: "order.status_changed", load: -1, withdrawn: order.WithdrawnCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.state(t)
			events, rej := order.Decide(s, tc.cmd)
			if tc.reject {
				require.NotNil(t, rej, "events %v", events)
				require.Equal(t, tc.want, rej.Code)
				return
			}
			require.Nil(t, rej)
			require.Len(t, events, 1)
			next := order.Number(s, orderID, events)
			c, err := order.Effects(s, next, events)
			require.NoError(t, err)
			require.Equal(t, tc.want, c.Events[0].Type)

			var load int
			for _, l := range c.Loads {
				require.Equal(t, driverID, l.DriverID)
				load += l.Delta
			}
			require.Equal(t, tc.load, load, "capacity change")
			if tc.done {
				require.Equal(t, []string{order.OfferDeadlineID(orderID, 2)}, c.DeadlinesDone)
			} else {
				require.Empty(t, c.DeadlinesDone)
			}
			require.Empty(t, c.Deadlines)
			js := jobs(t, c)
			if tc.withdrawn == "" {
				require.Empty(t, js)
			} else {
				require.Len(t, js, 1)
				require.Equal(t, wire.JobWithdrawn, js[0].Event)
				require.Equal(t, driverID, js[0].DriverID)
				require.Equal(t, tc.withdrawn, js[0].Reason)
			}
			if next.Status == order.Pending {
				require.Empty(t, next.DriverId)
				require.Zero(t, next.OfferSeq)
				require.Nil(t, order.Row(next).OfferExpiresAt)
			}
		})
	}
}

func TestAssignIsAnOffer(t *testing.T) {
	t.Parallel()
	s := assigned(t)
	require.Equal(t, int64(2), s.OfferSeq)
	require.Equal(t, offered+offerTTL, s.OfferExpiresAtMs)
	row := order.Row(s)
	require.NotNil(t, row.OfferExpiresAt)
	require.Equal(t, offered+offerTTL, row.OfferExpiresAt.UnixMilli())

	// An offer must expire after it is made.
	bad := assignCmd(admin, driverID)
	bad.GetAssign().OfferExpiresAtMs = bad.AtMs
	_, rej := order.Decide(build(t, createCmd(customer, validCreate())), bad)
	require.NotNil(t, rej)
	require.Equal(t, actors.CodeValidation, rej.Code)

	// The job names the offer, its deadline, the places and the distance.
	pending := build(t, createCmd(customer, validCreate()))
	cmd := assignCmd(admin, driverID)
	cmd.GetAssign().HasDistance, cmd.GetAssign().DistanceM = true, 1234.5
	events, rej := order.Decide(pending, cmd)
	require.Nil(t, rej)
	next := order.Number(pending, orderID, events)
	c, err := order.Effects(pending, next, events)
	require.NoError(t, err)
	js := jobs(t, c)
	require.Len(t, js, 1)
	j := js[0]
	require.Equal(t, wire.JobOffered, j.Event)
	require.Equal(t, wire.OfferID(orderID, 2), j.OfferID)
	require.Equal(t, wire.Timestamp(row.OfferExpiresAt.UTC()), j.ExpiresAt)
	require.Equal(t, "2 Dropoff Rd", j.Dropoff.Address)
	require.InDelta(t, 1234.5, *j.DistanceM, 0)
}

// TestAcceptRacingExpiry runs an accept and the offer's deadline in every
// order and at many times around the deadline, as the actor would
// serialise them: exactly one of them changes the order, and the driver's
// capacity is either kept (accepted) or released (expired), never both.
func TestAcceptRacingExpiry(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	deadline := offered + offerTTL
	for round := range 2000 {
		s := assigned(t)
		acceptAt := deadline + rng.Int64N(2000) - 1000
		expireAt := deadline + rng.Int64N(1000) // the scheduler never fires early
		cmds := []*pb.OrderCommand{at(acceptCmd(theDriver), acceptAt), expireCmd(system, 2, expireAt)}
		if rng.IntN(2) == 0 {
			cmds[0], cmds[1] = cmds[1], cmds[0]
		}
		var outcomes []string
		load := 1 // the assignment's reservation
		for _, c := range cmds {
			events, rej := order.Decide(s, c)
			if rej != nil {
				continue
			}
			next := order.Number(s, orderID, events)
			commit, err := order.Effects(s, next, events)
			require.NoError(t, err)
			for _, l := range commit.Loads {
				load += l.Delta
			}
			outcomes = append(outcomes, commit.Events[0].Type)
			s = next
		}
		require.Len(t, outcomes, 1, "round %d: accept at %d, expiry at %d: %v", round, acceptAt, expireAt, outcomes)
		switch outcomes[0] {
		case "order.accepted":
			require.Less(t, acceptAt, deadline, "round %d", round)
			require.Equal(t, 1, load)
			require.Equal(t, order.Accepted, s.Status)
		case "order.offer_expired":
			require.Equal(t, 0, load)
			require.Equal(t, order.Pending, s.Status)
		default:
			t.Fatalf("round %d: outcome %s", round, outcomes[0])
		}
	}
}

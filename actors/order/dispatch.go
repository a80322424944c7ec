package order

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// Automatic dispatch (DESIGN.md §7), the order's side. The order holds
// its dispatch runs (pb.DispatchState) and decides every step of them;
// the engine (dispatch/engine) only ranks drivers and proposes offers.
//
// A run starts with order.dispatch_started: at creation of an auto order
// (its first round due at once, or a lead time before a scheduled order
// is due) or when an admin asks (POST /v1/orders/:id/dispatch). While the
// run is searching, a dispatch deadline row (DispatchDeadlineID) is armed
// with a DispatchRound ticket; the engine fires it, ranks drivers and
// sends an AssignDriver carrying a DispatchOffer. The order takes it only
// for the current run, while searching, and for a driver not yet offered
// in the run (cooled). A decline or an expiry cools that driver and
// searches again, unless the run has made max_attempts offers or passed
// its deadline: then order.dispatch_failed, and the order waits for an
// admin. An admin's assign or unassign, or a cancel, stops the run.

// Dispatch modes and run states (pb.DispatchState).
const (
	DispatchManual = "manual"
	DispatchAuto   = "auto"

	DispatchIdle      = "idle"
	DispatchSearching = "searching"
	DispatchOffered   = "offered"
	DispatchAccepted  = "accepted"
	DispatchFailed    = "failed"
	DispatchStopped   = "stopped"
)

// Why a run escalated, and what became of an engine offer.
const (
	EscalatedMaxAttempts = "max_attempts"
	EscalatedDeadline    = "deadline"

	OutcomeOpen       = "open"
	OutcomeAccepted   = "accepted"
	OutcomeDeclined   = "declined"
	OutcomeExpired    = "expired"
	OutcomeUnassigned = "unassigned"
	OutcomeCancelled  = "cancelled"
)

// MaxAttemptsKept bounds the recorded offers an order keeps (over all its
// runs; the oldest go first).
const MaxAttemptsKept = 20

// DeadlineDispatch is the Kind of a dispatch deadline row: its command is
// a pb.DispatchRound for the engine, not an entity's command.
const DeadlineDispatch = "dispatch"

// RoundGrace is how long after its time a round due at once is fired by
// its row: the node whose commit armed it runs it straight away (a kick,
// with no claim and no lease), and the row, due RoundGrace later, is the
// safety net for a node that died or a round that failed. A round due
// later (a scheduled order's first) is fired by its row on time.
const RoundGrace = 5 * time.Second

// DispatchDeadlineID is the id of an order's dispatch round deadline (one
// per order: each round re-arms it).
func DispatchDeadlineID(orderID string) string { return "dispatch:" + orderID }

// EnginePrincipal is who the engine's commands come from.
var EnginePrincipal = &pb.Principal{UserId: actors.SystemUserID, Role: actors.RoleSystem}

// DispatchOf is s's dispatch state, never nil: an order created without
// automatic dispatch is manual and idle.
func DispatchOf(s *pb.OrderState) *pb.DispatchState {
	if d := s.GetDispatch(); d != nil {
		return d
	}
	return &pb.DispatchState{Mode: DispatchManual, State: DispatchIdle}
}

func hasPickupCoordinates(s *pb.OrderState) bool { return s.GetPickup().GetHasCoordinates() }

func validRequest(r *pb.DispatchRequest) *actors.Rejection {
	if r.GetDeadlineAtMs() <= r.GetStartsAtMs() || r.GetMaxAttempts() < 1 {
		return actors.Reject(actors.CodeValidation, "a dispatch run needs a deadline after its start and at least one attempt")
	}
	return nil
}

func started(cmd *pb.OrderCommand, run int64, r *pb.DispatchRequest) *pb.OrderEvent {
	e := event(cmd)
	e.Body = &pb.OrderEvent_DispatchStarted{DispatchStarted: &pb.DispatchStarted{Run: run,
		StartsAtMs: r.StartsAtMs, DeadlineAtMs: r.DeadlineAtMs, MaxAttempts: r.MaxAttempts}}
	return e
}

// decideStartDispatch: an admin starts a new run of a pending order.
func decideStartDispatch(s *pb.OrderState, cmd *pb.OrderCommand, x *pb.StartDispatch) ([]*pb.OrderEvent, *actors.Rejection) {
	if cmd.GetBy().GetRole() != actors.RoleAdmin {
		return nil, actors.Reject(actors.CodeForbidden, "only admins start a dispatch")
	}
	d := DispatchOf(s)
	if d.State == DispatchSearching || d.State == DispatchOffered {
		return nil, actors.Reject(actors.CodeDispatchInProgress, fmt.Sprintf("dispatch run %d is %s", d.Run, d.State))
	}
	if s.Status != Pending {
		return nil, actors.Reject(actors.CodeInvalidTransition, fmt.Sprintf("only a pending order is dispatched, not a %s one", s.Status))
	}
	if !hasPickupCoordinates(s) {
		return nil, actors.Reject(actors.CodeLocationRequired, "automatic dispatch needs the pickup's lat and lng")
	}
	if rej := validRequest(x.GetRequest()); rej != nil {
		return nil, rej
	}
	return []*pb.OrderEvent{started(cmd, d.Run+1, x.Request)}, nil
}

// decideEngineAssign checks the engine's offer against the run it is for.
func decideEngineAssign(s *pb.OrderState, a *pb.AssignDriver) *actors.Rejection {
	d := DispatchOf(s)
	if a.GetDispatch() == nil {
		return actors.Reject(actors.CodeForbidden, "only admins assign drivers outside a dispatch run")
	}
	if d.State != DispatchSearching || a.Dispatch.Run != d.Run {
		return actors.Reject(actors.CodeInvalidTransition, fmt.Sprintf("dispatch run %d is %s", a.Dispatch.Run, d.State))
	}
	if slices.Contains(d.Cooled, a.DriverId) {
		return actors.Reject(actors.CodeDriverUnavailable, "the driver was offered this order in this run already")
	}
	return nil
}

// decideEscalate: the engine found the run past its deadline.
func decideEscalate(s *pb.OrderState, cmd *pb.OrderCommand, x *pb.EscalateDispatch) ([]*pb.OrderEvent, *actors.Rejection) {
	if cmd.GetBy().GetRole() != actors.RoleSystem {
		return nil, actors.Reject(actors.CodeForbidden, "dispatch runs escalate by themselves only")
	}
	d := DispatchOf(s)
	if d.State != DispatchSearching || d.Run != x.Run {
		return nil, actors.Reject(actors.CodeInvalidTransition, fmt.Sprintf("dispatch run %d is %s", x.Run, d.State))
	}
	if cmd.GetAtMs() < d.DeadlineAtMs {
		return nil, actors.Reject(actors.CodeInvalidTransition, "the dispatch run's deadline has not passed")
	}
	return []*pb.OrderEvent{failed(cmd, d, EscalatedDeadline)}, nil
}

func failed(cmd *pb.OrderCommand, d *pb.DispatchState, reason string) *pb.OrderEvent {
	e := event(cmd)
	e.Body = &pb.OrderEvent_DispatchFailed{DispatchFailed: &pb.DispatchFailed{Run: d.Run, Reason: reason, Attempts: d.AttemptsInRun}}
	return e
}

// afterOfferEnds adds order.dispatch_failed to events (a decline or an
// expiry of the run's open offer) when that was the run's last chance:
// it has made max_attempts offers, or its deadline has passed.
func afterOfferEnds(s *pb.OrderState, cmd *pb.OrderCommand, events []*pb.OrderEvent) []*pb.OrderEvent {
	d := DispatchOf(s)
	if d.State != DispatchOffered || s.OfferSeq == 0 || len(d.Attempts) == 0 || d.Attempts[len(d.Attempts)-1].OfferSeq != s.OfferSeq {
		return events
	}
	switch {
	case d.AttemptsInRun >= d.MaxAttempts:
		return append(events, failed(cmd, d, EscalatedMaxAttempts))
	case cmd.GetAtMs() >= d.DeadlineAtMs:
		return append(events, failed(cmd, d, EscalatedDeadline))
	}
	return events
}

// applyDispatch folds e into n's dispatch state; prev is the state before
// e (n is a clone of it with the order's own fields already applied).
func applyDispatch(prev, n *pb.OrderState, e *pb.OrderEvent) {
	d := proto.Clone(DispatchOf(prev)).(*pb.DispatchState)
	defer func() {
		if d.Mode == DispatchManual && d.State == DispatchIdle && d.Run == 0 {
			n.Dispatch = nil // a manual order carries nothing
			return
		}
		n.Dispatch = d
	}()
	last := func() *pb.DispatchAttempt {
		if d.State != DispatchOffered || len(d.Attempts) == 0 {
			return nil
		}
		if a := d.Attempts[len(d.Attempts)-1]; a.OfferSeq == prev.OfferSeq && a.Outcome == OutcomeOpen {
			return a
		}
		return nil
	}
	settle := func(outcome string) {
		if a := last(); a != nil {
			a.Outcome, a.DecidedAtMs = outcome, e.AtMs
		}
	}
	stop := func(reason string) {
		if d.State == DispatchSearching || d.State == DispatchOffered {
			d.State, d.StoppedReason, d.EndedAtMs = DispatchStopped, reason, e.AtMs
		}
	}
	switch b := e.Body.(type) {
	case *pb.OrderEvent_Created:
		if b.Created.AutoDispatch {
			d.Mode = DispatchAuto
		}
	case *pb.OrderEvent_DispatchStarted:
		x := b.DispatchStarted
		d.State, d.Run = DispatchSearching, x.Run
		d.StartsAtMs, d.DeadlineAtMs, d.MaxAttempts = x.StartsAtMs, x.DeadlineAtMs, x.MaxAttempts
		d.AttemptsInRun, d.Cooled = 0, nil
		d.EscalatedAtMs, d.EscalationReason, d.StoppedReason, d.EndedAtMs = 0, "", "", 0
	case *pb.OrderEvent_Assigned:
		a := b.Assigned
		if a.Dispatch == nil {
			stop("assigned by an admin")
			return
		}
		d.State = DispatchOffered
		d.AttemptsInRun++
		d.Cooled = append(d.Cooled, a.DriverId)
		d.Attempts = append(d.Attempts, &pb.DispatchAttempt{
			Run: a.Dispatch.Run, DriverId: a.DriverId, DistanceM: a.DistanceM, Score: a.Dispatch.Score,
			RadiusM: a.Dispatch.RadiusM, OfferSeq: e.Seq, OfferedAtMs: e.AtMs, ExpiresAtMs: a.OfferExpiresAtMs,
			Outcome: OutcomeOpen, Considered: a.Dispatch.Considered, Candidates: a.Dispatch.Candidates,
		})
		if len(d.Attempts) > MaxAttemptsKept {
			d.Attempts = slices.Clone(d.Attempts[len(d.Attempts)-MaxAttemptsKept:])
		}
	case *pb.OrderEvent_Accepted:
		if last() != nil {
			settle(OutcomeAccepted)
			d.State, d.EndedAtMs = DispatchAccepted, e.AtMs
		}
	case *pb.OrderEvent_Declined:
		if last() != nil {
			settle(OutcomeDeclined)
			d.State = DispatchSearching
		}
	case *pb.OrderEvent_OfferExpired:
		if last() != nil {
			settle(OutcomeExpired)
			d.State = DispatchSearching
		}
	case *pb.OrderEvent_Unassigned:
		settle(OutcomeUnassigned)
		stop("unassigned by an admin")
	case *pb.OrderEvent_StatusChanged:
		if b.StatusChanged.To == Cancelled {
			settle(OutcomeCancelled)
			stop("cancelled")
		}
	case *pb.OrderEvent_DispatchFailed:
		d.State, d.EscalationReason = DispatchFailed, b.DispatchFailed.Reason
		d.EscalatedAtMs, d.EndedAtMs = e.AtMs, e.AtMs
	}
}

// dispatchEffects arms the dispatch round deadline when a commit, prev →
// next, leaves the order searching in a run it was not searching in
// before (a new run, or a decline or expiry of the run's offer), and
// removes it when the order stops searching.
func dispatchEffects(c *actors.Commit, prev, next *pb.OrderState, atMs int64) error {
	before, after := DispatchOf(prev), DispatchOf(next)
	was := before.State == DispatchSearching
	is := after.State == DispatchSearching
	switch {
	case is && !(was && before.Run == after.Run):
		round := &pb.DispatchRound{OrderId: next.Id, Run: after.Run, Lat: next.Pickup.GetLat(), Lng: next.Pickup.GetLng(),
			StartsAtMs: after.StartsAtMs, DeadlineAtMs: after.DeadlineAtMs, Cooled: after.Cooled}
		cmd, err := proto.Marshal(round)
		if err != nil {
			return fmt.Errorf("encode dispatch round: %w", err)
		}
		due, kick := time.UnixMilli(after.StartsAtMs), false
		if after.StartsAtMs <= atMs {
			due, kick = time.UnixMilli(atMs).Add(RoundGrace), true // the row is the safety net
		}
		c.Deadlines = append(c.Deadlines, actors.Deadline{
			ID: DispatchDeadlineID(next.Id), Kind: DeadlineDispatch, EntityID: next.Id,
			DueAt: due.UTC(), Command: cmd, Kick: kick,
		})
	case was && !is:
		c.DeadlinesDone = append(c.DeadlinesDone, DispatchDeadlineID(next.Id))
	}
	return nil
}

// DispatchView is s's dispatch as the API shows it.
func DispatchView(s *pb.OrderState) wire.Dispatch {
	d := DispatchOf(s)
	ts := func(ms int64) string {
		if ms == 0 {
			return ""
		}
		return wire.Timestamp(time.UnixMilli(ms))
	}
	v := wire.Dispatch{OrderID: s.Id, Mode: d.Mode, State: d.State, Run: d.Run,
		StartsAt: ts(d.StartsAtMs), DeadlineAt: ts(d.DeadlineAtMs), MaxAttempts: int(d.MaxAttempts),
		AttemptsInRun: int(d.AttemptsInRun), CooledDriverIDs: slices.Clone(d.Cooled),
		EscalatedAt: ts(d.EscalatedAtMs), EscalationReason: d.EscalationReason, StoppedReason: d.StoppedReason,
		EndedAt: ts(d.EndedAtMs), Attempts: make([]wire.DispatchAttempt, 0, len(d.Attempts))}
	if v.CooledDriverIDs == nil {
		v.CooledDriverIDs = []string{}
	}
	for _, a := range d.Attempts {
		wa := wire.DispatchAttempt{Run: a.Run, DriverID: a.DriverId, DistanceM: a.DistanceM, Score: a.Score,
			RadiusM: a.RadiusM, OfferID: wire.OfferID(s.Id, a.OfferSeq), OfferedAt: ts(a.OfferedAtMs),
			ExpiresAt: ts(a.ExpiresAtMs), DecidedAt: ts(a.DecidedAtMs), Outcome: a.Outcome,
			Considered: int(a.Considered), Candidates: make([]wire.DispatchCandidate, 0, len(a.Candidates))}
		for _, c := range a.Candidates {
			wa.Candidates = append(wa.Candidates, wire.DispatchCandidate{DriverID: c.DriverId, DistanceM: c.DistanceM, Score: c.Score})
		}
		v.Attempts = append(v.Attempts, wa)
	}
	return v
}

// Package order is the order's state machine: Decide turns a command into
// events (or a rejection) without side effects, Apply folds an event into
// the state. It imports no actor runtime, SQL or HTTP; actors/host runs it.
//
// Statuses: pending → assigned → accepted → picked_up → in_transit →
// delivered, with the side exits of DESIGN.md §2:
//
//   - cancelled: the customer before picked_up; an admin before delivered.
//   - failed: the assigned driver or an admin once accepted, with a reason.
//   - decline (assigned driver) returns an assigned order to pending.
//
// An assignment is an offer to one driver with a deadline (DESIGN.md §7):
// the order is assigned while the offer is open. Accepting before the
// deadline claims it; declining, the deadline passing (ExpireOffer, sent
// by the deadline the assign armed) or an admin's unassign (also once
// accepted, before picked_up) returns it to pending and frees the
// driver. The actor serialises accept and expiry: exactly one wins.
//
// Who may do what (checked before the status, so an unauthorised caller
// learns nothing about the order's state):
//
//   - create: a customer for themselves, an admin for anyone.
//   - assign, unassign: admins.
//   - accept, decline: the assigned driver only.
//   - expire an offer: the system (the deadline scheduler).
//   - picked_up, in_transit, delivered: the assigned driver or an admin.
//   - cancel: the order's customer or an admin.
//   - fail: the assigned driver or an admin.
//   - record a payment or a refund: admins (payment.go).
//   - record a proof of delivery: the assigned driver, once accepted (also
//     after delivered, unless the order requires a proof before it).
package order

import (
	"fmt"
	"slices"

	"github.com/outrider/outrider/actors"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Statuses.
const (
	Pending   = "pending"
	Assigned  = "assigned"
	Accepted  = "accepted"
	PickedUp  = "picked_up"
	InTransit = "in_transit"
	Delivered = "delivered"
	Cancelled = "cancelled"
	Failed    = "failed"
)

// Delivery options and payment statuses.
const (
	Standard  = "standard"
	Express   = "express"
	Scheduled = "scheduled"
	Unpaid    = "unpaid"
)

// ProofTypes are the content types a proof of delivery may have.
var ProofTypes = []string{"image/jpeg", "image/png", "image/webp"}

// MaxProofs is the most proofs one order holds.
const MaxProofs = 10

// Statuses lists every order status in lifecycle order.
var Statuses = []string{Pending, Assigned, Accepted, PickedUp, InTransit, Delivered, Cancelled, Failed}

// Terminal reports whether no further transition leaves status.
func Terminal(status string) bool {
	return status == Delivered || status == Cancelled || status == Failed
}

// HoldsDriver reports whether an order in status occupies its driver's
// capacity.
func HoldsDriver(status string) bool {
	switch status {
	case Assigned, Accepted, PickedUp, InTransit:
		return true
	}
	return false
}

// progress maps each forward status reachable by PUT /status to the status
// it must come from.
var progress = map[string]string{PickedUp: Accepted, InTransit: PickedUp, Delivered: InTransit}

// Exists reports whether the order has been created.
func Exists(s *pb.OrderState) bool { return s != nil && s.Version > 0 }

// Decide validates cmd against the current state s (nil or version 0 for an
// order not yet created) and returns the events it produces. It never
// mutates s. Events carry no sequence numbers yet: the caller numbers them.
func Decide(s *pb.OrderState, cmd *pb.OrderCommand) ([]*pb.OrderEvent, *actors.Rejection) {
	by := cmd.GetBy()
	if by.GetUserId() == "" || by.GetRole() == "" {
		return nil, actors.Reject(actors.CodeForbidden, "command has no principal")
	}
	if c := cmd.GetCreate(); c != nil {
		return decideCreate(s, cmd, c)
	}
	if !Exists(s) {
		return nil, actors.Reject(actors.CodeNotFound, "order not found")
	}
	if !visible(s, by) {
		return nil, actors.Reject(actors.CodeNotFound, "order not found")
	}
	if ev := cmd.GetExpectedVersion(); ev != 0 && ev != s.Version {
		return nil, actors.Reject(actors.CodeVersionConflict,
			fmt.Sprintf("order is at version %d, not %d", s.Version, ev))
	}
	switch body := cmd.Body.(type) {
	case *pb.OrderCommand_Assign:
		return decideAssign(s, cmd, body.Assign)
	case *pb.OrderCommand_Accept:
		return decideAccept(s, cmd)
	case *pb.OrderCommand_Decline:
		return decideDecline(s, cmd, body.Decline)
	case *pb.OrderCommand_ChangeStatus:
		return decideStatus(s, cmd, body.ChangeStatus)
	case *pb.OrderCommand_RecordProof:
		return decideProof(s, cmd, body.RecordProof)
	case *pb.OrderCommand_ExpireOffer:
		return decideExpire(s, cmd, body.ExpireOffer)
	case *pb.OrderCommand_Unassign:
		return decideUnassign(s, cmd, body.Unassign)
	case *pb.OrderCommand_StartDispatch:
		return decideStartDispatch(s, cmd, body.StartDispatch)
	case *pb.OrderCommand_EscalateDispatch:
		return decideEscalate(s, cmd, body.EscalateDispatch)
	case *pb.OrderCommand_SetPayment:
		return decideSetPayment(s, cmd, body.SetPayment)
	case *pb.OrderCommand_Redact:
		return decideRedact(s, cmd)
	case *pb.OrderCommand_Get:
		return nil, nil
	}
	return nil, actors.Reject(actors.CodeValidation, "unknown order command")
}

// visible is the object-level read rule: admins see every order, a
// customer their own, a driver the orders assigned to them.
func visible(s *pb.OrderState, by *pb.Principal) bool {
	switch by.GetRole() {
	case actors.RoleAdmin, actors.RoleSystem:
		return true
	case actors.RoleCustomer:
		return s.CustomerId == by.GetUserId()
	case actors.RoleDriver:
		// Drivers may address an order they are not assigned to only to
		// be told they are not its driver (accept/decline answer 403).
		return true
	}
	return false
}

// Visible reports whether principal by may read order s (GET, timeline).
func Visible(s *pb.OrderState, by *pb.Principal) bool {
	if by.GetRole() == actors.RoleDriver {
		return s.DriverId != "" && s.DriverId == by.GetUserId()
	}
	return visible(s, by)
}

func event(cmd *pb.OrderCommand) *pb.OrderEvent {
	return &pb.OrderEvent{AtMs: cmd.GetAtMs(), By: cmd.GetBy(), CommandId: cmd.GetCommandId()}
}

func decideCreate(s *pb.OrderState, cmd *pb.OrderCommand, c *pb.CreateOrder) ([]*pb.OrderEvent, *actors.Rejection) {
	if Exists(s) {
		return nil, actors.Reject(actors.CodeAlreadyExists, "order already exists")
	}
	by := cmd.GetBy()
	switch by.GetRole() {
	case actors.RoleCustomer:
		if c.CustomerId != "" && c.CustomerId != by.GetUserId() {
			return nil, actors.Reject(actors.CodeForbidden, "customers place orders for themselves only")
		}
	case actors.RoleAdmin:
	default:
		return nil, actors.Reject(actors.CodeForbidden, "only customers and admins place orders")
	}
	customer := c.CustomerId
	if customer == "" {
		customer = by.GetUserId()
	}
	switch c.DeliveryOption {
	case Standard, Express:
		if c.ScheduledForMs != 0 {
			return nil, actors.Reject(actors.CodeValidation, "scheduled_for is only for delivery_option scheduled")
		}
	case Scheduled:
		if c.ScheduledForMs == 0 {
			return nil, actors.Reject(actors.CodeValidation, "delivery_option scheduled needs scheduled_for")
		}
		if c.ScheduledForMs <= cmd.GetAtMs() {
			return nil, actors.Reject(actors.CodeValidation, "scheduled_for must be in the future")
		}
	default:
		return nil, actors.Reject(actors.CodeValidation, "delivery_option must be standard, express or scheduled")
	}
	if c.GetPickup().GetAddress() == "" || c.GetDropoff().GetAddress() == "" {
		return nil, actors.Reject(actors.CodeValidation, "pickup and dropoff need an address")
	}
	if c.Dispatch != nil {
		if !c.GetPickup().GetHasCoordinates() {
			return nil, actors.Reject(actors.CodeLocationRequired, "automatic dispatch needs the pickup's lat and lng")
		}
		if rej := validRequest(c.Dispatch); rej != nil {
			return nil, rej
		}
	}
	e := event(cmd)
	e.Body = &pb.OrderEvent_Created{Created: &pb.OrderCreated{
		CustomerId:     customer,
		Pickup:         c.Pickup,
		Dropoff:        c.Dropoff,
		DeliveryOption: c.DeliveryOption,
		ScheduledForMs: c.ScheduledForMs,
		Notes:          c.Notes,
		PaymentStatus:  Unpaid,
		ProofRequired:  c.ProofRequired,
		AutoDispatch:   c.Dispatch != nil,
	}}
	if c.Dispatch != nil {
		return []*pb.OrderEvent{e, started(cmd, 1, c.Dispatch)}, nil
	}
	return []*pb.OrderEvent{e}, nil
}

func decideAssign(s *pb.OrderState, cmd *pb.OrderCommand, a *pb.AssignDriver) ([]*pb.OrderEvent, *actors.Rejection) {
	switch cmd.GetBy().GetRole() {
	case actors.RoleAdmin:
	case actors.RoleSystem:
		if rej := decideEngineAssign(s, a); rej != nil {
			return nil, rej
		}
	default:
		return nil, actors.Reject(actors.CodeForbidden, "only admins assign drivers")
	}
	if a.DriverId == "" {
		return nil, actors.Reject(actors.CodeValidation, "driver_id is required")
	}
	if a.OfferExpiresAtMs <= cmd.GetAtMs() {
		return nil, actors.Reject(actors.CodeValidation, "an offer must expire after it is made")
	}
	switch {
	case s.Status == Pending:
	case HoldsDriver(s.Status):
		return nil, actors.Reject(actors.CodeAlreadyAssigned,
			fmt.Sprintf("order already has driver %s", s.DriverId))
	default:
		return nil, invalid(s.Status, Assigned)
	}
	e := event(cmd)
	e.Body = &pb.OrderEvent_Assigned{Assigned: &pb.DriverAssigned{DriverId: a.DriverId,
		OfferExpiresAtMs: a.OfferExpiresAtMs, HasDistance: a.HasDistance, DistanceM: a.DistanceM, Dispatch: a.Dispatch}}
	return []*pb.OrderEvent{e}, nil
}

// isAssignedDriver reports whether by is the order's driver.
func isAssignedDriver(s *pb.OrderState, by *pb.Principal) bool {
	return by.GetRole() == actors.RoleDriver && s.DriverId != "" && s.DriverId == by.GetUserId()
}

func decideAccept(s *pb.OrderState, cmd *pb.OrderCommand) ([]*pb.OrderEvent, *actors.Rejection) {
	if !isAssignedDriver(s, cmd.GetBy()) {
		return nil, actors.Reject(actors.CodeForbidden, "only the assigned driver may accept")
	}
	if s.Status != Assigned {
		return nil, invalid(s.Status, Accepted)
	}
	if OfferLapsed(s, cmd.GetAtMs()) {
		return nil, actors.Reject(actors.CodeOfferExpired, "the offer expired before it was accepted")
	}
	e := event(cmd)
	e.Body = &pb.OrderEvent_Accepted{Accepted: &pb.OrderAccepted{DriverId: s.DriverId}}
	return []*pb.OrderEvent{e}, nil
}

func decideDecline(s *pb.OrderState, cmd *pb.OrderCommand, d *pb.DeclineOrder) ([]*pb.OrderEvent, *actors.Rejection) {
	if !isAssignedDriver(s, cmd.GetBy()) {
		return nil, actors.Reject(actors.CodeForbidden, "only the assigned driver may decline")
	}
	if s.Status != Assigned {
		return nil, invalid(s.Status, "declined")
	}
	e := event(cmd)
	e.Body = &pb.OrderEvent_Declined{Declined: &pb.OrderDeclined{DriverId: s.DriverId, Reason: d.GetReason()}}
	return afterOfferEnds(s, cmd, []*pb.OrderEvent{e}), nil
}

// OfferLapsed reports whether s has an open offer whose deadline has
// passed at atMs (the expiry may not have fired yet: it is refused all
// the same, and the expiry settles the order).
func OfferLapsed(s *pb.OrderState, atMs int64) bool {
	return s.Status == Assigned && s.OfferExpiresAtMs != 0 && atMs >= s.OfferExpiresAtMs
}

func decideExpire(s *pb.OrderState, cmd *pb.OrderCommand, x *pb.ExpireOffer) ([]*pb.OrderEvent, *actors.Rejection) {
	if cmd.GetBy().GetRole() != actors.RoleSystem {
		return nil, actors.Reject(actors.CodeForbidden, "offers expire by their deadline only")
	}
	if s.Status != Assigned || s.OfferSeq != x.OfferSeq {
		// Accepted, declined, unassigned or expired already: nothing to do.
		return nil, actors.Reject(actors.CodeInvalidTransition, "the offer is no longer open")
	}
	e := event(cmd)
	e.Body = &pb.OrderEvent_OfferExpired{OfferExpired: &pb.OfferExpired{DriverId: s.DriverId, OfferSeq: s.OfferSeq}}
	return afterOfferEnds(s, cmd, []*pb.OrderEvent{e}), nil
}

func decideUnassign(s *pb.OrderState, cmd *pb.OrderCommand, u *pb.UnassignOrder) ([]*pb.OrderEvent, *actors.Rejection) {
	if cmd.GetBy().GetRole() != actors.RoleAdmin {
		return nil, actors.Reject(actors.CodeForbidden, "only admins unassign drivers")
	}
	if s.Status != Assigned && s.Status != Accepted {
		return nil, invalid(s.Status, Pending)
	}
	e := event(cmd)
	e.Body = &pb.OrderEvent_Unassigned{Unassigned: &pb.OrderUnassigned{DriverId: s.DriverId, From: s.Status, Reason: u.GetReason()}}
	return []*pb.OrderEvent{e}, nil
}

func decideStatus(s *pb.OrderState, cmd *pb.OrderCommand, c *pb.ChangeStatus) ([]*pb.OrderEvent, *actors.Rejection) {
	by := cmd.GetBy()
	admin := by.GetRole() == actors.RoleAdmin
	driver := isAssignedDriver(s, by)
	to := c.Status
	switch to {
	case PickedUp, InTransit, Delivered:
		if !admin && !driver {
			return nil, actors.Reject(actors.CodeForbidden, "only the assigned driver or an admin moves an order forward")
		}
		if s.Status != progress[to] {
			return nil, invalid(s.Status, to)
		}
		if to == Delivered && s.ProofRequired && len(s.ProofKeys) == 0 {
			return nil, actors.Reject(actors.CodeProofRequired, "record a proof of delivery before marking the order delivered")
		}
	case Cancelled:
		customer := by.GetRole() == actors.RoleCustomer && s.CustomerId == by.GetUserId()
		switch {
		case admin:
			if Terminal(s.Status) {
				return nil, invalid(s.Status, to)
			}
		case customer:
			if !slices.Contains([]string{Pending, Assigned, Accepted}, s.Status) {
				return nil, invalid(s.Status, to)
			}
		default:
			return nil, actors.Reject(actors.CodeForbidden, "only the customer or an admin cancels an order")
		}
	case Failed:
		if !admin && !driver {
			return nil, actors.Reject(actors.CodeForbidden, "only the assigned driver or an admin fails an order")
		}
		if !slices.Contains([]string{Accepted, PickedUp, InTransit}, s.Status) {
			return nil, invalid(s.Status, to)
		}
		if c.Reason == "" {
			return nil, actors.Reject(actors.CodeValidation, "failing an order needs a reason")
		}
	case Pending, Assigned, Accepted:
		return nil, actors.Reject(actors.CodeInvalidTransition,
			fmt.Sprintf("status %s is reached through assign, accept or decline, not a status change", to))
	default:
		return nil, actors.Reject(actors.CodeValidation, fmt.Sprintf("unknown status %q", to))
	}
	e := event(cmd)
	sc := &pb.StatusChanged{From: s.Status, To: to, Reason: c.Reason}
	if Terminal(to) && HoldsDriver(s.Status) {
		sc.DriverId = s.DriverId
	}
	e.Body = &pb.OrderEvent_StatusChanged{StatusChanged: sc}
	return []*pb.OrderEvent{e}, nil
}

func decideProof(s *pb.OrderState, cmd *pb.OrderCommand, p *pb.RecordProof) ([]*pb.OrderEvent, *actors.Rejection) {
	if !isAssignedDriver(s, cmd.GetBy()) {
		return nil, actors.Reject(actors.CodeForbidden, "only the assigned driver records a proof of delivery")
	}
	if rej := proofStatus(s.Status); rej != nil {
		return nil, rej
	}
	if p.Key == "" || p.Size <= 0 || !slices.Contains(ProofTypes, p.ContentType) {
		return nil, actors.Reject(actors.CodeValidation, "a proof needs a key, a size and an image content type")
	}
	if slices.Contains(s.ProofKeys, p.Key) {
		return nil, actors.Reject(actors.CodeAlreadyExists, "this object is already recorded as a proof")
	}
	if rej := CanAddProof(s.Status, len(s.ProofKeys)); rej != nil {
		return nil, rej
	}
	e := event(cmd)
	e.Body = &pb.OrderEvent_ProofAdded{ProofAdded: &pb.ProofAdded{Key: p.Key, ContentType: p.ContentType, Size: p.Size}}
	return []*pb.OrderEvent{e}, nil
}

func invalid(from, to string) *actors.Rejection {
	return actors.Reject(actors.CodeInvalidTransition, fmt.Sprintf("cannot go from %s to %s", from, to))
}

// Apply folds e into s and returns the new state; s is not modified. The
// event's Seq becomes the state's version.
func Apply(s *pb.OrderState, e *pb.OrderEvent) *pb.OrderState {
	n := clone(s)
	n.Id = e.OrderId
	n.Version = e.Seq
	n.UpdatedAtMs = e.AtMs
	n.RecentCommandIds = actors.RememberCommand(n.RecentCommandIds, e.CommandId)
	switch b := e.Body.(type) {
	case *pb.OrderEvent_Created:
		c := b.Created
		n.CustomerId = c.CustomerId
		n.Pickup = c.Pickup
		n.Dropoff = c.Dropoff
		n.DeliveryOption = c.DeliveryOption
		n.ScheduledForMs = c.ScheduledForMs
		n.Notes = c.Notes
		n.PaymentStatus = c.PaymentStatus
		n.ProofRequired = c.ProofRequired
		n.Status = Pending
		n.CreatedAtMs = e.AtMs
	case *pb.OrderEvent_Assigned:
		n.DriverId = b.Assigned.DriverId
		n.Status = Assigned
		n.OfferSeq, n.OfferExpiresAtMs = e.Seq, b.Assigned.OfferExpiresAtMs
	case *pb.OrderEvent_Accepted:
		n.Status = Accepted
		n.OfferSeq, n.OfferExpiresAtMs = 0, 0
	case *pb.OrderEvent_Declined, *pb.OrderEvent_OfferExpired, *pb.OrderEvent_Unassigned:
		n.DriverId = ""
		n.Status = Pending
		n.OfferSeq, n.OfferExpiresAtMs = 0, 0
	case *pb.OrderEvent_StatusChanged:
		n.Status = b.StatusChanged.To
		n.OfferSeq, n.OfferExpiresAtMs = 0, 0
	case *pb.OrderEvent_ProofAdded:
		n.ProofKeys = append(n.ProofKeys, b.ProofAdded.Key)
	case *pb.OrderEvent_PaymentChanged:
		n.PaymentStatus = b.PaymentChanged.To
	case *pb.OrderEvent_Redacted:
		applyRedacted(n)
	}
	applyDispatch(s, n, e)
	return n
}

func clone(s *pb.OrderState) *pb.OrderState {
	if s == nil {
		return &pb.OrderState{}
	}
	n := &pb.OrderState{
		Id: s.Id, CustomerId: s.CustomerId, DriverId: s.DriverId,
		Pickup: s.Pickup, Dropoff: s.Dropoff, DeliveryOption: s.DeliveryOption,
		ScheduledForMs: s.ScheduledForMs, PaymentStatus: s.PaymentStatus,
		Status: s.Status, Notes: s.Notes, Version: s.Version,
		CreatedAtMs: s.CreatedAtMs, UpdatedAtMs: s.UpdatedAtMs,
		RecentCommandIds: slices.Clone(s.RecentCommandIds),
		ProofRequired:    s.ProofRequired, ProofKeys: slices.Clone(s.ProofKeys),
		OfferSeq: s.OfferSeq, OfferExpiresAtMs: s.OfferExpiresAtMs,
		Dispatch: s.Dispatch, // applyDispatch replaces it, never changes it
		Redacted: s.Redacted,
	}
	return n
}

// EventTypes are the public names of every order event, as EventType
// gives them (webhooks subscribe by these).
var EventTypes = []string{
	"order.created", "order.assigned", "order.accepted", "order.declined", "order.offer_expired", "order.unassigned",
	"order.status_changed", "order.proof_added", "order.dispatch_started", "order.dispatch_failed",
	"order.payment_changed", "order.redacted",
}

// EventType is the public name of an order event, as published.
func EventType(e *pb.OrderEvent) string {
	switch e.Body.(type) {
	case *pb.OrderEvent_Created:
		return "order.created"
	case *pb.OrderEvent_Assigned:
		return "order.assigned"
	case *pb.OrderEvent_Accepted:
		return "order.accepted"
	case *pb.OrderEvent_Declined:
		return "order.declined"
	case *pb.OrderEvent_StatusChanged:
		return "order.status_changed"
	case *pb.OrderEvent_ProofAdded:
		return "order.proof_added"
	case *pb.OrderEvent_OfferExpired:
		return "order.offer_expired"
	case *pb.OrderEvent_Unassigned:
		return "order.unassigned"
	case *pb.OrderEvent_DispatchStarted:
		return "order.dispatch_started"
	case *pb.OrderEvent_DispatchFailed:
		return "order.dispatch_failed"
	case *pb.OrderEvent_PaymentChanged:
		return "order.payment_changed"
	case *pb.OrderEvent_Redacted:
		return "order.redacted"
	}
	return "order.unknown"
}

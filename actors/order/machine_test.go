package order_test

import (
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Identities used throughout the order tests.
const (
	orderID       = "o1"
	adminID       = "a1"
	customerID    = "c1" // the order's customer
	otherCustID   = "c2"
	driverID      = "d1" // the driver the fixtures assign
	otherDriverID = "d2"
	t0            = int64(1_700_000_000_000) // a fixed "now" in ms
)

var (
	admin       = &pb.Principal{UserId: adminID, Role: actors.RoleAdmin}
	customer    = &pb.Principal{UserId: customerID, Role: actors.RoleCustomer}
	otherCust   = &pb.Principal{UserId: otherCustID, Role: actors.RoleCustomer}
	theDriver   = &pb.Principal{UserId: driverID, Role: actors.RoleDriver}
	otherDriver = &pb.Principal{UserId: otherDriverID, Role: actors.RoleDriver}
	system      = &pb.Principal{UserId: "sys", Role: actors.RoleSystem}
)

// ---------------------------------------------------------------- command builders

var cmdSeq atomic.Int64

func nextCmdID() string { return "cmd-" + strconv.FormatInt(cmdSeq.Add(1), 10) }

func createCmd(by *pb.Principal, c *pb.CreateOrder) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: by, AtMs: t0, Body: &pb.OrderCommand_Create{Create: c}}
}

func validCreate() *pb.CreateOrder {
	return &pb.CreateOrder{
		Pickup:         &pb.Place{Address: "1 Pickup St", HasCoordinates: true, Lat: 52.5, Lng: 13.4},
		Dropoff:        &pb.Place{Address: "2 Dropoff Rd"},
		DeliveryOption: order.Standard,
		Notes:          "ring twice",
	}
}

// offerTTL is how long the offers of assignCmd stay open (ms): longer
// than the gaps between the commands of the tests.
const offerTTL = 600_000

func assignCmd(by *pb.Principal, driver string) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: by, AtMs: t0 + 1000,
		Body: &pb.OrderCommand_Assign{Assign: &pb.AssignDriver{DriverId: driver, OfferExpiresAtMs: t0 + 1000 + offerTTL}}}
}

func acceptCmd(by *pb.Principal) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: by, AtMs: t0 + 2000,
		Body: &pb.OrderCommand_Accept{Accept: &pb.AcceptOrder{}}}
}

func declineCmd(by *pb.Principal, reason string) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: by, AtMs: t0 + 2000,
		Body: &pb.OrderCommand_Decline{Decline: &pb.DeclineOrder{Reason: reason}}}
}

func statusCmd(by *pb.Principal, to, reason string) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: by, AtMs: t0 + 3000,
		Body: &pb.OrderCommand_ChangeStatus{ChangeStatus: &pb.ChangeStatus{Status: to, Reason: reason}}}
}

// step decides cmd against s, requires success, numbers and applies it.
func step(t *testing.T, s *pb.OrderState, cmd *pb.OrderCommand) *pb.OrderState {
	t.Helper()
	events, rej := order.Decide(s, cmd)
	require.Nil(t, rej, "fixture command rejected")
	require.NotEmpty(t, events)
	return order.Number(s, orderID, events)
}

// build runs cmds from an empty order.
func build(t *testing.T, cmds ...*pb.OrderCommand) *pb.OrderState {
	t.Helper()
	var s *pb.OrderState
	for _, c := range cmds {
		s = step(t, s, c)
	}
	return s
}

// ---------------------------------------------------------------- fixtures

type fixture struct {
	name   string
	status string
	driver string // the order's DriverId in this fixture ("" when none)
	cmds   func() []*pb.OrderCommand
}

func fixtures() []fixture {
	created := func() []*pb.OrderCommand { return []*pb.OrderCommand{createCmd(customer, validCreate())} }
	then := func(prev func() []*pb.OrderCommand, more ...func() *pb.OrderCommand) func() []*pb.OrderCommand {
		return func() []*pb.OrderCommand {
			out := prev()
			for _, m := range more {
				out = append(out, m())
			}
			return out
		}
	}
	assign := func() *pb.OrderCommand { return assignCmd(admin, driverID) }
	accept := func() *pb.OrderCommand { return acceptCmd(theDriver) }
	to := func(s string, by *pb.Principal, reason string) func() *pb.OrderCommand {
		return func() *pb.OrderCommand { return statusCmd(by, s, reason) }
	}
	assigned := then(created, assign)
	accepted := then(assigned, accept)
	pickedUp := then(accepted, to(order.PickedUp, theDriver, ""))
	inTransit := then(pickedUp, to(order.InTransit, theDriver, ""))
	return []fixture{
		{"pending", order.Pending, "", created},
		{"pending_after_decline", order.Pending, "", then(assigned, func() *pb.OrderCommand { return declineCmd(theDriver, "too far") })},
		{"assigned", order.Assigned, driverID, assigned},
		{"accepted", order.Accepted, driverID, accepted},
		{"picked_up", order.PickedUp, driverID, pickedUp},
		{"in_transit", order.InTransit, driverID, inTransit},
		{"delivered", order.Delivered, driverID, then(inTransit, to(order.Delivered, theDriver, ""))},
		{"cancelled", order.Cancelled, "", then(created, to(order.Cancelled, customer, ""))},
		{"cancelled_with_driver", order.Cancelled, driverID, then(accepted, to(order.Cancelled, admin, ""))},
		{"failed", order.Failed, driverID, then(pickedUp, to(order.Failed, theDriver, "flat tyre"))},
	}
}

// ---------------------------------------------------------------- the expectation, written from DESIGN.md §2 and the package doc

// Command names of the matrix. Status changes are named by their target.
const (
	opAssign  = "assign"
	opAccept  = "accept"
	opDecline = "decline"
)

type op struct {
	name   string // opAssign, opAccept, opDecline or a status for change_status
	reason string // for change_status / decline
	cmd    func(by *pb.Principal) *pb.OrderCommand
}

func ops() []op {
	cs := func(to, reason string) op {
		return op{to, reason, func(by *pb.Principal) *pb.OrderCommand { return statusCmd(by, to, reason) }}
	}
	return []op{
		{opAssign, "", func(by *pb.Principal) *pb.OrderCommand { return assignCmd(by, driverID) }},
		{opAccept, "", func(by *pb.Principal) *pb.OrderCommand { return acceptCmd(by) }},
		{opDecline, "no thanks", func(by *pb.Principal) *pb.OrderCommand { return declineCmd(by, "no thanks") }},
		cs(order.PickedUp, ""),
		cs(order.InTransit, ""),
		cs(order.Delivered, ""),
		cs(order.Cancelled, ""),
		cs(order.Failed, "engine broke"),
		cs(order.Failed, ""),
		cs(order.Pending, ""),
		cs(order.Assigned, ""),
		cs(order.Accepted, ""),
		cs("teleported", ""),
	}
}

func (o op) label() string {
	switch o.name {
	case opAssign, opAccept, opDecline:
		return o.name
	}
	if o.name == order.Failed && o.reason == "" {
		return "status:failed(no_reason)"
	}
	return "status:" + o.name
}

// relation is how a principal stands to an order.
type relation string

const (
	relAdmin       relation = "admin"
	relCustomer    relation = "own_customer"
	relOtherCust   relation = "other_customer"
	relDriver      relation = "assigned_driver"
	relOtherDriver relation = "other_driver"
)

// relationOf derives the relation from the order's customer and driver,
// not from how the principal was picked: d1 is "another driver" of an
// order that has no driver.
func relationOf(customerOfOrder, driverOfOrder string, by *pb.Principal) relation {
	switch by.Role {
	case actors.RoleAdmin:
		return relAdmin
	case actors.RoleCustomer:
		if by.UserId == customerOfOrder {
			return relCustomer
		}
		return relOtherCust
	case actors.RoleDriver:
		if driverOfOrder != "" && by.UserId == driverOfOrder {
			return relDriver
		}
		return relOtherDriver
	}
	panic("unexpected role " + by.Role)
}

// transitions: command → from → to. Everything not listed is refused.
var transitions = map[string]map[string]string{
	opAssign:        {order.Pending: order.Assigned},
	opAccept:        {order.Assigned: order.Accepted},
	opDecline:       {order.Assigned: order.Pending},
	order.PickedUp:  {order.Accepted: order.PickedUp},
	order.InTransit: {order.PickedUp: order.InTransit},
	order.Delivered: {order.InTransit: order.Delivered},
	// admin: before delivered (customers are narrowed below).
	order.Cancelled: {
		order.Pending: order.Cancelled, order.Assigned: order.Cancelled, order.Accepted: order.Cancelled,
		order.PickedUp: order.Cancelled, order.InTransit: order.Cancelled,
	},
	// once accepted, not after a terminal status.
	order.Failed: {order.Accepted: order.Failed, order.PickedUp: order.Failed, order.InTransit: order.Failed},
}

// mayIssue: who may issue each command at all.
var mayIssue = map[string][]relation{
	opAssign:        {relAdmin},
	opAccept:        {relDriver},
	opDecline:       {relDriver},
	order.PickedUp:  {relAdmin, relDriver},
	order.InTransit: {relAdmin, relDriver},
	order.Delivered: {relAdmin, relDriver},
	order.Cancelled: {relAdmin, relCustomer},
	order.Failed:    {relAdmin, relDriver},
}

// customers cancel only before picked_up.
var customerCancelFrom = []string{order.Pending, order.Assigned, order.Accepted}

// driverHolding: statuses in which an order has a driver.
var driverHolding = []string{order.Assigned, order.Accepted, order.PickedUp, order.InTransit}

var eventTypes = map[string]string{
	opAssign: "order.assigned", opAccept: "order.accepted", opDecline: "order.declined",
}

type outcome struct {
	code  string // "" on success
	to    string // resulting status on success
	event string // event type on success
}

func expect(from string, rel relation, o op) outcome {
	// Object visibility first: a customer never learns of another's order.
	if rel == relOtherCust {
		return outcome{code: actors.CodeNotFound}
	}
	switch o.name {
	case opAssign, opAccept, opDecline, order.PickedUp, order.InTransit, order.Delivered, order.Cancelled, order.Failed:
	case order.Pending, order.Assigned, order.Accepted:
		// reached only through assign/accept/decline, never a status change.
		return outcome{code: actors.CodeInvalidTransition}
	default:
		return outcome{code: actors.CodeValidation}
	}
	// Who, before the status.
	if !slices.Contains(mayIssue[o.name], rel) {
		return outcome{code: actors.CodeForbidden}
	}
	to, ok := transitions[o.name][from]
	if o.name == order.Cancelled && rel == relCustomer && !slices.Contains(customerCancelFrom, from) {
		ok = false
	}
	if !ok {
		if o.name == opAssign && slices.Contains(driverHolding, from) {
			return outcome{code: actors.CodeAlreadyAssigned}
		}
		return outcome{code: actors.CodeInvalidTransition}
	}
	if o.name == order.Failed && o.reason == "" {
		return outcome{code: actors.CodeValidation}
	}
	typ, ok := eventTypes[o.name]
	if !ok {
		typ = "order.status_changed"
	}
	return outcome{to: to, event: typ}
}

// ---------------------------------------------------------------- the matrix

type versionMode int

const (
	noExpectedVersion versionMode = iota
	currentVersion
	staleVersion
)

func (m versionMode) String() string {
	return [...]string{"no_expected_version", "expected_version_current", "expected_version_stale"}[m]
}

func TestDecideMatrix(t *testing.T) {
	t.Parallel()
	principals := []*pb.Principal{admin, customer, otherCust, theDriver, otherDriver}
	fx := fixtures()
	cases := 0
	seen := map[string]bool{} // every status appears in the matrix
	for _, f := range fx {
		// Build the fixture once, check it is what it claims to be.
		base := build(t, f.cmds()...)
		require.Equal(t, f.status, base.Status, f.name)
		require.Equal(t, f.driver, base.DriverId, f.name)
		require.Equal(t, customerID, base.CustomerId, f.name)
		seen[f.status] = true
		for _, o := range ops() {
			for _, by := range principals {
				for _, mode := range []versionMode{noExpectedVersion, currentVersion, staleVersion} {
					cases++
					f, o, by, mode := f, o, by, mode
					rel := relationOf(base.CustomerId, base.DriverId, by)
					name := fmt.Sprintf("%s/%s/%s/%s", f.name, o.label(), rel, mode)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						s := proto.Clone(base).(*pb.OrderState)
						before := proto.Clone(s)
						cmd := o.cmd(by)
						want := expect(f.status, rel, o)
						switch mode {
						case currentVersion:
							cmd.ExpectedVersion = s.Version
						case staleVersion:
							// Not s.Version-1: that is 0 ("no check") for a fresh order.
							cmd.ExpectedVersion = s.Version + 7
							if rel == relOtherCust {
								want = outcome{code: actors.CodeNotFound}
							} else {
								want = outcome{code: actors.CodeVersionConflict}
							}
						}

						events, rej := order.Decide(s, cmd)
						require.True(t, proto.Equal(before, s), "Decide mutated its state")

						if want.code != "" {
							require.Empty(t, events)
							require.NotNil(t, rej, "want rejection %s", want.code)
							require.Equal(t, want.code, rej.Code, rej.Message)
							require.NotEmpty(t, rej.Message)
							return
						}
						require.Nil(t, rej, "want success to %s", want.to)
						require.Len(t, events, 1)
						e := events[0]
						require.Equal(t, want.event, order.EventType(e))
						require.Equal(t, cmd.CommandId, e.CommandId)
						require.Equal(t, cmd.AtMs, e.AtMs)
						require.True(t, proto.Equal(by, e.By))

						next := order.Number(s, orderID, events)
						require.True(t, proto.Equal(before, s), "Number/Apply mutated its state")
						require.Equal(t, want.to, next.Status)
						require.Equal(t, s.Version+1, next.Version)
						require.Equal(t, s.Version+1, e.Seq)
						require.Equal(t, orderID, e.OrderId)
						require.Equal(t, cmd.AtMs, next.UpdatedAtMs)
						require.True(t, actors.SeenCommand(next.RecentCommandIds, cmd.CommandId))

						switch o.name {
						case opAssign:
							require.Equal(t, driverID, next.DriverId)
						case opDecline:
							require.Empty(t, next.DriverId)
							require.Equal(t, driverID, e.GetDeclined().DriverId)
							require.Equal(t, o.reason, e.GetDeclined().Reason)
						case opAccept:
							require.Equal(t, driverID, e.GetAccepted().DriverId)
							require.Equal(t, s.DriverId, next.DriverId)
						default:
							sc := e.GetStatusChanged()
							require.NotNil(t, sc)
							require.Equal(t, s.Status, sc.From)
							require.Equal(t, want.to, sc.To)
							require.Equal(t, o.reason, sc.Reason)
							// A terminal status releases a driver the order held.
							if order.Terminal(want.to) && slices.Contains(driverHolding, s.Status) {
								require.Equal(t, s.DriverId, sc.DriverId)
							} else {
								require.Empty(t, sc.DriverId)
							}
							require.Equal(t, s.DriverId, next.DriverId, "a status change keeps the driver on record")
						}
					})
				}
			}
		}
	}
	for _, st := range order.Statuses {
		require.True(t, seen[st], "status %s missing from the matrix", st)
	}
	require.Equal(t, len(fx)*len(ops())*len(principals)*3, cases)
	t.Logf("order decide matrix: %d cases", cases)
}

// The expectation must agree with the package's own notion of terminal
// and driver-holding statuses.
func TestStatusPredicates(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"pending", "assigned", "accepted", "picked_up", "in_transit", "delivered", "cancelled", "failed"}, order.Statuses)
	for _, st := range order.Statuses {
		require.Equal(t, slices.Contains(driverHolding, st), order.HoldsDriver(st), st)
		require.Equal(t, st == order.Delivered || st == order.Cancelled || st == order.Failed, order.Terminal(st), st)
		// No transition leaves a terminal status.
		if order.Terminal(st) {
			for cmd, from := range transitions {
				_, ok := from[st]
				require.False(t, ok, "%s leaves terminal %s", cmd, st)
			}
		}
	}
}

// ---------------------------------------------------------------- other Decide rules

func TestDecideNonExistentOrder(t *testing.T) {
	t.Parallel()
	principals := []*pb.Principal{admin, customer, otherCust, theDriver, otherDriver, system}
	getCmd := func(by *pb.Principal) *pb.OrderCommand {
		return &pb.OrderCommand{CommandId: nextCmdID(), By: by, Body: &pb.OrderCommand_Get{Get: &pb.GetOrder{}}}
	}
	all := append(ops(), op{"get", "", getCmd})
	states := map[string]*pb.OrderState{"nil": nil, "zero": {}, "zero_with_id": {Id: orderID}}
	for sname, s := range states {
		for _, o := range all {
			for _, by := range principals {
				for _, ev := range []int64{0, 3} {
					s, o, by, ev := s, o, by, ev
					t.Run(fmt.Sprintf("%s/%s/%s/%s/ev%d", sname, o.label(), by.Role, by.UserId, ev), func(t *testing.T) {
						t.Parallel()
						cmd := o.cmd(by)
						cmd.ExpectedVersion = ev
						events, rej := order.Decide(s, cmd)
						require.Empty(t, events)
						require.NotNil(t, rej)
						require.Equal(t, actors.CodeNotFound, rej.Code)
					})
				}
			}
		}
	}
}

func TestDecideNeedsPrincipal(t *testing.T) {
	t.Parallel()
	existing := build(t, createCmd(customer, validCreate()))
	for _, by := range []*pb.Principal{nil, {}, {UserId: customerID}, {Role: actors.RoleCustomer}, {Role: actors.RoleAdmin}} {
		for _, s := range []*pb.OrderState{nil, existing} {
			for _, cmd := range []*pb.OrderCommand{createCmd(by, validCreate()), statusCmd(by, order.Cancelled, ""), assignCmd(by, driverID)} {
				_, rej := order.Decide(s, cmd)
				require.NotNil(t, rej)
				require.Equal(t, actors.CodeForbidden, rej.Code, "principal %v", by)
			}
		}
	}
}

func TestDecideGetAndUnknownBody(t *testing.T) {
	t.Parallel()
	s := build(t, createCmd(customer, validCreate()))
	get := &pb.OrderCommand{CommandId: "g", By: admin, Body: &pb.OrderCommand_Get{Get: &pb.GetOrder{}}}
	events, rej := order.Decide(s, get)
	require.Nil(t, rej)
	require.Empty(t, events)

	// Another customer's Get is not_found, like every other command.
	get.By = otherCust
	_, rej = order.Decide(s, get)
	require.Equal(t, actors.CodeNotFound, rej.Code)

	_, rej = order.Decide(s, &pb.OrderCommand{CommandId: "x", By: admin})
	require.NotNil(t, rej)
	require.Equal(t, actors.CodeValidation, rej.Code)
}

func TestDecideAssignNeedsDriverID(t *testing.T) {
	t.Parallel()
	s := build(t, createCmd(customer, validCreate()))
	_, rej := order.Decide(s, assignCmd(admin, ""))
	require.NotNil(t, rej)
	require.Equal(t, actors.CodeValidation, rej.Code)

	// Non-admins learn nothing: forbidden before validation.
	_, rej = order.Decide(s, assignCmd(theDriver, ""))
	require.Equal(t, actors.CodeForbidden, rej.Code)
}

// I1: once assigned, a second assign (same or another driver) is refused
// with order_already_assigned until the driver declines.
func TestAssignReassignAfterDecline(t *testing.T) {
	t.Parallel()
	s := build(t, createCmd(customer, validCreate()), assignCmd(admin, driverID))
	for _, d := range []string{driverID, otherDriverID} {
		_, rej := order.Decide(s, assignCmd(admin, d))
		require.Equal(t, actors.CodeAlreadyAssigned, rej.Code)
	}
	s = step(t, s, declineCmd(theDriver, ""))
	require.Equal(t, order.Pending, s.Status)
	require.Empty(t, s.DriverId)
	// The declining driver is no longer the order's driver.
	_, rej := order.Decide(s, acceptCmd(theDriver))
	require.Equal(t, actors.CodeForbidden, rej.Code)
	s = step(t, s, assignCmd(admin, otherDriverID))
	require.Equal(t, otherDriverID, s.DriverId)
	_, rej = order.Decide(s, acceptCmd(theDriver))
	require.Equal(t, actors.CodeForbidden, rej.Code)
	s = step(t, s, acceptCmd(otherDriver))
	require.Equal(t, order.Accepted, s.Status)
}

func TestCreate(t *testing.T) {
	t.Parallel()
	with := func(mod func(c *pb.CreateOrder)) *pb.CreateOrder {
		c := validCreate()
		mod(c)
		return c
	}
	future := t0 + 3_600_000
	cases := []struct {
		name         string
		by           *pb.Principal
		create       *pb.CreateOrder
		code         string
		wantCustomer string
	}{
		{"customer for self (implicit)", customer, validCreate(), "", customerID},
		{"customer for self (explicit)", customer, with(func(c *pb.CreateOrder) { c.CustomerId = customerID }), "", customerID},
		{"customer for another customer", customer, with(func(c *pb.CreateOrder) { c.CustomerId = otherCustID }), actors.CodeForbidden, ""},
		{"admin for a customer", admin, with(func(c *pb.CreateOrder) { c.CustomerId = otherCustID }), "", otherCustID},
		{"driver", theDriver, validCreate(), actors.CodeForbidden, ""},
		{"driver for a customer", theDriver, with(func(c *pb.CreateOrder) { c.CustomerId = customerID }), actors.CodeForbidden, ""},
		{"system", system, with(func(c *pb.CreateOrder) { c.CustomerId = customerID }), actors.CodeForbidden, ""},
		{"unknown role", &pb.Principal{UserId: "x", Role: "guest"}, validCreate(), actors.CodeForbidden, ""},
		{"express", customer, with(func(c *pb.CreateOrder) { c.DeliveryOption = order.Express }), "", customerID},
		{"scheduled in the future", customer, with(func(c *pb.CreateOrder) { c.DeliveryOption = order.Scheduled; c.ScheduledForMs = future }), "", customerID},
		{"scheduled without scheduled_for", customer, with(func(c *pb.CreateOrder) { c.DeliveryOption = order.Scheduled }), actors.CodeValidation, ""},
		{"scheduled now", customer, with(func(c *pb.CreateOrder) { c.DeliveryOption = order.Scheduled; c.ScheduledForMs = t0 }), actors.CodeValidation, ""},
		{"scheduled in the past", customer, with(func(c *pb.CreateOrder) { c.DeliveryOption = order.Scheduled; c.ScheduledForMs = t0 - 1 }), actors.CodeValidation, ""},
		{"standard with scheduled_for", customer, with(func(c *pb.CreateOrder) { c.ScheduledForMs = future }), actors.CodeValidation, ""},
		{"express with scheduled_for", customer, with(func(c *pb.CreateOrder) { c.DeliveryOption = order.Express; c.ScheduledForMs = future }), actors.CodeValidation, ""},
		{"empty delivery_option", customer, with(func(c *pb.CreateOrder) { c.DeliveryOption = "" }), actors.CodeValidation, ""},
		{"unknown delivery_option", customer, with(func(c *pb.CreateOrder) { c.DeliveryOption = "overnight" }), actors.CodeValidation, ""},
		{"delivery_option wrong case", customer, with(func(c *pb.CreateOrder) { c.DeliveryOption = "Standard" }), actors.CodeValidation, ""},
		{"no pickup", customer, with(func(c *pb.CreateOrder) { c.Pickup = nil }), actors.CodeValidation, ""},
		{"pickup without address", customer, with(func(c *pb.CreateOrder) { c.Pickup = &pb.Place{HasCoordinates: true, Lat: 1, Lng: 2} }), actors.CodeValidation, ""},
		{"no dropoff", customer, with(func(c *pb.CreateOrder) { c.Dropoff = nil }), actors.CodeValidation, ""},
		{"dropoff without address", customer, with(func(c *pb.CreateOrder) { c.Dropoff = &pb.Place{} }), actors.CodeValidation, ""},
		// Authorisation is checked before validation.
		{"driver with invalid body", theDriver, &pb.CreateOrder{}, actors.CodeForbidden, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := createCmd(tc.by, tc.create)
			events, rej := order.Decide(nil, cmd)
			if tc.code != "" {
				require.NotNil(t, rej)
				require.Equal(t, tc.code, rej.Code, rej.Message)
				require.Empty(t, events)
				return
			}
			require.Nil(t, rej)
			require.Len(t, events, 1)
			require.Equal(t, "order.created", order.EventType(events[0]))
			c := events[0].GetCreated()
			require.Equal(t, tc.wantCustomer, c.CustomerId)
			require.Equal(t, "unpaid", c.PaymentStatus)

			s := order.Number(nil, orderID, events)
			require.Equal(t, order.Pending, s.Status)
			require.Equal(t, int64(1), s.Version)
			require.Equal(t, orderID, s.Id)
			require.Equal(t, tc.wantCustomer, s.CustomerId)
			require.Empty(t, s.DriverId)
			require.Equal(t, tc.create.DeliveryOption, s.DeliveryOption)
			require.Equal(t, tc.create.ScheduledForMs, s.ScheduledForMs)
			require.Equal(t, tc.create.Notes, s.Notes)
			require.Equal(t, "unpaid", s.PaymentStatus)
			require.Equal(t, t0, s.CreatedAtMs)
			require.Equal(t, t0, s.UpdatedAtMs)
			require.True(t, proto.Equal(tc.create.Pickup, s.Pickup))
			require.True(t, proto.Equal(tc.create.Dropoff, s.Dropoff))
			require.True(t, order.Exists(s))

			// Creating it again is refused, whoever asks.
			for _, by := range []*pb.Principal{customer, admin} {
				_, rej := order.Decide(s, createCmd(by, validCreate()))
				require.NotNil(t, rej)
				require.Equal(t, actors.CodeAlreadyExists, rej.Code)
			}
		})
	}
}

func TestExists(t *testing.T) {
	t.Parallel()
	require.False(t, order.Exists(nil))
	require.False(t, order.Exists(&pb.OrderState{}))
	require.False(t, order.Exists(&pb.OrderState{Id: orderID, Status: order.Pending}))
	require.True(t, order.Exists(&pb.OrderState{Version: 1}))
}

func TestVisible(t *testing.T) {
	t.Parallel()
	noDriver := &pb.OrderState{Id: orderID, CustomerId: customerID, Status: order.Pending, Version: 1}
	withDriver := &pb.OrderState{Id: orderID, CustomerId: customerID, DriverId: driverID, Status: order.Accepted, Version: 3}
	delivered := &pb.OrderState{Id: orderID, CustomerId: customerID, DriverId: driverID, Status: order.Delivered, Version: 6}
	cases := []struct {
		name string
		s    *pb.OrderState
		by   *pb.Principal
		want bool
	}{
		{"admin, no driver", noDriver, admin, true},
		{"admin, with driver", withDriver, admin, true},
		{"system", withDriver, system, true},
		{"own customer", noDriver, customer, true},
		{"own customer, delivered", delivered, customer, true},
		{"other customer", noDriver, otherCust, false},
		{"other customer, with driver", withDriver, otherCust, false},
		{"customer whose id is the driver's", withDriver, &pb.Principal{UserId: driverID, Role: actors.RoleCustomer}, false},
		{"assigned driver", withDriver, theDriver, true},
		{"assigned driver, delivered", delivered, theDriver, true},
		{"other driver", withDriver, otherDriver, false},
		{"driver, order without driver", noDriver, theDriver, false},
		{"driver with empty id, order without driver", noDriver, &pb.Principal{Role: actors.RoleDriver}, false},
		{"driver whose id is the customer's", noDriver, &pb.Principal{UserId: customerID, Role: actors.RoleDriver}, false},
		{"unknown role", withDriver, &pb.Principal{UserId: adminID, Role: "guest"}, false},
		{"no principal", withDriver, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, order.Visible(tc.s, tc.by))
		})
	}

	// After a decline the driver no longer sees the order.
	s := build(t, createCmd(customer, validCreate()), assignCmd(admin, driverID))
	require.True(t, order.Visible(s, theDriver))
	s = step(t, s, declineCmd(theDriver, ""))
	require.False(t, order.Visible(s, theDriver))
	require.True(t, order.Visible(s, customer))
}

// ---------------------------------------------------------------- Apply

func TestApplyDoesNotMutateInput(t *testing.T) {
	t.Parallel()
	base := &pb.OrderState{
		Id: orderID, CustomerId: customerID, DriverId: driverID, Status: order.Assigned, Version: 2,
		Pickup: &pb.Place{Address: "p"}, Dropoff: &pb.Place{Address: "d"}, DeliveryOption: order.Standard,
		PaymentStatus: "unpaid", CreatedAtMs: t0, UpdatedAtMs: t0 + 1,
		// Spare capacity: an append that reuses it would leak into the input.
		RecentCommandIds: append(make([]string, 0, 40), "c-1", "c-2"),
	}
	events := []*pb.OrderEvent{
		{Body: &pb.OrderEvent_Created{Created: &pb.OrderCreated{CustomerId: otherCustID, Pickup: &pb.Place{Address: "x"}, Dropoff: &pb.Place{Address: "y"}, DeliveryOption: order.Express, PaymentStatus: "unpaid"}}},
		{Body: &pb.OrderEvent_Assigned{Assigned: &pb.DriverAssigned{DriverId: otherDriverID}}},
		{Body: &pb.OrderEvent_Accepted{Accepted: &pb.OrderAccepted{DriverId: driverID}}},
		{Body: &pb.OrderEvent_Declined{Declined: &pb.OrderDeclined{DriverId: driverID}}},
		{Body: &pb.OrderEvent_StatusChanged{StatusChanged: &pb.StatusChanged{From: order.Assigned, To: order.Cancelled, DriverId: driverID}}},
	}
	for i, e := range events {
		e.OrderId, e.Seq, e.AtMs, e.CommandId, e.By = orderID, 3, t0+10, fmt.Sprintf("new-%d", i), admin
		before := proto.Clone(base).(*pb.OrderState)
		n1 := order.Apply(base, e)
		require.True(t, proto.Equal(before, base), "Apply mutated its input for %s", order.EventType(e))
		require.Equal(t, []string{"c-1", "c-2"}, base.RecentCommandIds)
		require.Equal(t, []string{"c-1", "c-2", e.CommandId}, n1.RecentCommandIds)
		require.Equal(t, int64(3), n1.Version)
		require.Equal(t, t0+10, n1.UpdatedAtMs)

		// A second Apply on the same input must not see or clobber the first.
		e2 := proto.Clone(e).(*pb.OrderEvent)
		e2.CommandId = "other"
		n2 := order.Apply(base, e2)
		require.Equal(t, []string{"c-1", "c-2", e.CommandId}, n1.RecentCommandIds)
		require.Equal(t, []string{"c-1", "c-2", "other"}, n2.RecentCommandIds)
	}
	// Apply on nil starts from an empty state.
	n := order.Apply(nil, &pb.OrderEvent{OrderId: orderID, Seq: 1, CommandId: "c"})
	require.Equal(t, orderID, n.Id)
	require.Equal(t, int64(1), n.Version)
}

func TestEventTypeUnknown(t *testing.T) {
	t.Parallel()
	require.Equal(t, "order.unknown", order.EventType(&pb.OrderEvent{}))
}

// ---------------------------------------------------------------- RememberCommand

func TestRememberCommand(t *testing.T) {
	t.Parallel()
	ids := func(from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, "c"+strconv.Itoa(i))
		}
		return out
	}
	cases := []struct {
		name   string
		recent []string
		id     string
		want   []string
	}{
		{"empty id ignored", []string{"a"}, "", []string{"a"}},
		{"empty id on nil", nil, "", nil},
		{"first id", nil, "a", []string{"a"}},
		{"duplicate ignored", []string{"a", "b"}, "a", []string{"a", "b"}},
		{"below the bound", ids(1, 31), "c32", ids(1, 32)},
		{"at the bound drops the oldest", ids(1, 32), "c33", ids(2, 33)},
		{"over the bound trims to 32", ids(1, 40), "c41", ids(10, 41)},
		{"duplicate at the bound", ids(1, 32), "c5", ids(1, 32)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := actors.RememberCommand(slices.Clone(tc.recent), tc.id)
			require.Equal(t, tc.want, got)
			require.LessOrEqual(t, len(got), 32)
		})
	}

	// Through Apply: a long-lived order keeps the newest 32 command ids.
	var s *pb.OrderState
	for i := 1; i <= 100; i++ {
		s = order.Apply(s, &pb.OrderEvent{OrderId: orderID, Seq: int64(i), CommandId: "c" + strconv.Itoa(i)})
		require.LessOrEqual(t, len(s.RecentCommandIds), 32)
	}
	require.Equal(t, ids(69, 100), s.RecentCommandIds)
	require.True(t, actors.SeenCommand(s.RecentCommandIds, "c100"))
	require.True(t, actors.SeenCommand(s.RecentCommandIds, "c69"))
	require.False(t, actors.SeenCommand(s.RecentCommandIds, "c68"))
	require.False(t, actors.SeenCommand(s.RecentCommandIds, ""))
}

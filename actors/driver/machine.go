// Package driver is the driver's state machine: availability and capacity.
// The number of active orders a driver holds is not driver state: orders
// reserve and release it in their own commits (see actors.DriverLoad), so
// the store can settle I2 in the transaction that assigns the order.
package driver

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Driver statuses as the API shows them.
const (
	Offline   = "offline"
	Available = "available"
	Busy      = "busy"
)

// Statuses lists every driver status Status returns.
var Statuses = []string{Offline, Available, Busy}

// DefaultCapacity is how many active orders a driver holds at once unless
// configured otherwise.
const DefaultCapacity = 1

// MaxCapacity bounds a driver's capacity; more is a data-entry mistake.
const MaxCapacity = 20

// CanTake is invariant I2 as a rule: a driver may take one more active
// order only while available and holding fewer than capacity. It decides
// nothing on its own — two orders may race for the last slot — so the
// store applies the same rule as the guard of the commit that reserves the
// slot (reserve_driver in the Postgres migrations, sqlReserveDriver in
// persistence/sqlite), and the conformance suite
// (persistence/storetest, "ReservationGuardAgreesWithCanTake") checks that
// the guard and CanTake agree. Change the three together.
func CanTake(available bool, capacity, active int) bool {
	return available && active < capacity
}

// Status derives a driver's status: busy while holding capacity orders (or
// holding any while not taking more), available when taking orders,
// offline otherwise. Lists filter on it in Go, after reading the row, so
// this is the rule's only copy.
func Status(available bool, capacity, active int) string {
	switch {
	case active >= capacity && active > 0:
		return Busy
	case !available && active > 0:
		return Busy
	case available:
		return Available
	}
	return Offline
}

// Exists reports whether the driver has been registered.
func Exists(s *pb.DriverState) bool { return s != nil && s.Version > 0 }

// Decide validates cmd against s and returns the events it produces.
func Decide(s *pb.DriverState, cmd *pb.DriverCommand) ([]*pb.DriverEvent, *actors.Rejection) {
	by := cmd.GetBy()
	switch b := cmd.Body.(type) {
	case *pb.DriverCommand_Register:
		if by.GetRole() != actors.RoleAdmin && by.GetRole() != actors.RoleSystem {
			return nil, actors.Reject(actors.CodeForbidden, "only admins register drivers")
		}
		if Exists(s) {
			return nil, actors.Reject(actors.CodeAlreadyExists, "driver already registered")
		}
		c := b.Register.Capacity
		if c == 0 {
			c = DefaultCapacity
		}
		if c < 1 || c > MaxCapacity {
			return nil, actors.Reject(actors.CodeValidation, fmt.Sprintf("capacity must be 1..%d", MaxCapacity))
		}
		e := event(cmd)
		e.Body = &pb.DriverEvent_Registered{Registered: &pb.DriverRegistered{Capacity: c}}
		return []*pb.DriverEvent{e}, nil
	}
	if !Exists(s) {
		return nil, actors.Reject(actors.CodeNotFound, "driver not found")
	}
	self := by.GetRole() == actors.RoleDriver && by.GetUserId() == s.Id
	admin := by.GetRole() == actors.RoleAdmin || by.GetRole() == actors.RoleSystem
	if !self && !admin {
		return nil, actors.Reject(actors.CodeNotFound, "driver not found")
	}
	switch b := cmd.Body.(type) {
	case *pb.DriverCommand_SetAvailability:
		if b.SetAvailability.Available == s.Available {
			return nil, nil
		}
		e := event(cmd)
		e.Body = &pb.DriverEvent_AvailabilityChanged{AvailabilityChanged: &pb.AvailabilityChanged{Available: b.SetAvailability.Available}}
		return []*pb.DriverEvent{e}, nil
	case *pb.DriverCommand_SetCapacity:
		if !admin {
			return nil, actors.Reject(actors.CodeForbidden, "only admins change a driver's capacity")
		}
		c := b.SetCapacity.Capacity
		if c < 1 || c > MaxCapacity {
			return nil, actors.Reject(actors.CodeValidation, fmt.Sprintf("capacity must be 1..%d", MaxCapacity))
		}
		if c == s.Capacity {
			return nil, nil
		}
		e := event(cmd)
		e.Body = &pb.DriverEvent_CapacityChanged{CapacityChanged: &pb.CapacityChanged{Capacity: c}}
		return []*pb.DriverEvent{e}, nil
	case *pb.DriverCommand_Get:
		return nil, nil
	}
	return nil, actors.Reject(actors.CodeValidation, "unknown driver command")
}

func event(cmd *pb.DriverCommand) *pb.DriverEvent {
	return &pb.DriverEvent{AtMs: cmd.GetAtMs(), By: cmd.GetBy(), CommandId: cmd.GetCommandId()}
}

// Apply folds e into s, returning a new state.
func Apply(s *pb.DriverState, e *pb.DriverEvent) *pb.DriverState {
	n := &pb.DriverState{}
	if s != nil {
		n = &pb.DriverState{Id: s.Id, Available: s.Available, Capacity: s.Capacity,
			Version: s.Version, UpdatedAtMs: s.UpdatedAtMs, RecentCommandIds: slices.Clone(s.RecentCommandIds),
			LastLocation: s.LastLocation}
	}
	n.Id = e.DriverId
	n.Version = e.Seq
	n.UpdatedAtMs = e.AtMs
	n.RecentCommandIds = actors.RememberCommand(n.RecentCommandIds, e.CommandId)
	switch b := e.Body.(type) {
	case *pb.DriverEvent_Registered:
		n.Capacity = b.Registered.Capacity
		n.Available = false
	case *pb.DriverEvent_AvailabilityChanged:
		n.Available = b.AvailabilityChanged.Available
	case *pb.DriverEvent_CapacityChanged:
		n.Capacity = b.CapacityChanged.Capacity
	}
	return n
}

// EventType is the public name of a driver event.
func EventType(e *pb.DriverEvent) string {
	switch e.Body.(type) {
	case *pb.DriverEvent_Registered:
		return "driver.registered"
	case *pb.DriverEvent_AvailabilityChanged:
		return "driver.availability_changed"
	case *pb.DriverEvent_CapacityChanged:
		return "driver.capacity_changed"
	}
	return "driver.unknown"
}

// Number numbers events after s's version for driver id and returns the
// resulting state.
func Number(s *pb.DriverState, id string, events []*pb.DriverEvent) *pb.DriverState {
	next := s
	for _, e := range events {
		e.DriverId = id
		e.Seq = next.GetVersion() + 1
		next = Apply(next, e)
	}
	return next
}

// Effects is the commit persisting numbered events that lead to next. The
// driver row is small, so every commit also snapshots it.
func Effects(next *pb.DriverState, events []*pb.DriverEvent) (actors.Commit, error) {
	var c actors.Commit
	for _, e := range events {
		payload, err := proto.Marshal(e)
		if err != nil {
			return c, fmt.Errorf("encode driver event: %w", err)
		}
		c.Events = append(c.Events, actors.Event{
			Kind: actors.KindDriver, EntityID: e.DriverId, Seq: e.Seq, Type: EventType(e),
			Payload: payload, CommandID: e.CommandId, At: time.UnixMilli(e.AtMs).UTC(),
		})
	}
	if len(events) > 0 {
		c.Drivers = []actors.DriverRow{{
			ID: next.Id, Available: next.Available, Capacity: int(next.Capacity),
			Version: next.Version, UpdatedAt: time.UnixMilli(next.UpdatedAtMs).UTC(),
		}}
	}
	return c, nil
}

// Restore rebuilds a driver from what the store loaded.
func Restore(l actors.Loaded) (*pb.DriverState, error) {
	s := &pb.DriverState{}
	if l.Snapshot != nil {
		if err := proto.Unmarshal(l.Snapshot.State, s); err != nil {
			return nil, fmt.Errorf("decode driver snapshot: %w", err)
		}
	}
	for _, rec := range l.Events {
		e := &pb.DriverEvent{}
		if err := proto.Unmarshal(rec.Payload, e); err != nil {
			return nil, fmt.Errorf("decode driver event %d: %w", rec.Seq, err)
		}
		if e.Seq != s.Version+1 {
			return nil, fmt.Errorf("driver %s journal gap: have version %d, next event is %d", rec.EntityID, s.Version, e.Seq)
		}
		s = Apply(s, e)
	}
	return s, nil
}

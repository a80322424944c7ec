package driver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

const (
	driverID = "d1"
	t0       = int64(1_700_000_000_000)
)

var (
	admin       = &pb.Principal{UserId: "a1", Role: actors.RoleAdmin}
	system      = &pb.Principal{UserId: "sys", Role: actors.RoleSystem}
	self        = &pb.Principal{UserId: driverID, Role: actors.RoleDriver}
	otherDriver = &pb.Principal{UserId: "d2", Role: actors.RoleDriver}
	customer    = &pb.Principal{UserId: "c1", Role: actors.RoleCustomer}
	// A customer account whose id equals the driver's: the role decides.
	customerSameID = &pb.Principal{UserId: driverID, Role: actors.RoleCustomer}
)

func register(by *pb.Principal, capacity int32) *pb.DriverCommand {
	return &pb.DriverCommand{CommandId: "reg", By: by, AtMs: t0,
		Body: &pb.DriverCommand_Register{Register: &pb.RegisterDriver{Capacity: capacity}}}
}

func setAvailability(by *pb.Principal, available bool) *pb.DriverCommand {
	return &pb.DriverCommand{CommandId: fmt.Sprintf("avail-%v-%s", available, by.GetUserId()), By: by, AtMs: t0 + 1000,
		Body: &pb.DriverCommand_SetAvailability{SetAvailability: &pb.SetAvailability{Available: available}}}
}

// registered returns a driver registered with capacity, optionally
// switched available.
func registered(t *testing.T, capacity int32, available bool) *pb.DriverState {
	t.Helper()
	events, rej := driver.Decide(nil, register(admin, capacity))
	require.Nil(t, rej)
	s := driver.Number(nil, driverID, events)
	if available {
		events, rej = driver.Decide(s, setAvailability(admin, true))
		require.Nil(t, rej)
		s = driver.Number(s, driverID, events)
	}
	return s
}

func TestRegister(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		by       *pb.Principal
		capacity int32
		code     string
		want     int32
	}{
		{"admin, default capacity", admin, 0, "", driver.DefaultCapacity},
		{"system, default capacity", system, 0, "", driver.DefaultCapacity},
		{"admin, capacity 1", admin, 1, "", 1},
		{"admin, capacity 3", admin, 3, "", 3},
		{"admin, max capacity", admin, driver.MaxCapacity, "", driver.MaxCapacity},
		{"admin, over max", admin, driver.MaxCapacity + 1, actors.CodeValidation, 0},
		{"admin, negative", admin, -1, actors.CodeValidation, 0},
		{"system, over max", system, 1000, actors.CodeValidation, 0},
		{"the driver themselves", self, 1, actors.CodeForbidden, 0},
		{"another driver", otherDriver, 1, actors.CodeForbidden, 0},
		{"customer", customer, 1, actors.CodeForbidden, 0},
		{"no principal", nil, 1, actors.CodeForbidden, 0},
		{"unknown role", &pb.Principal{UserId: "x", Role: "guest"}, 1, actors.CodeForbidden, 0},
		// Authorisation before validation.
		{"customer, invalid capacity", customer, -5, actors.CodeForbidden, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := register(tc.by, tc.capacity)
			events, rej := driver.Decide(nil, cmd)
			if tc.code != "" {
				require.NotNil(t, rej)
				require.Equal(t, tc.code, rej.Code, rej.Message)
				require.Empty(t, events)
				return
			}
			require.Nil(t, rej)
			require.Len(t, events, 1)
			require.Equal(t, "driver.registered", driver.EventType(events[0]))
			require.Equal(t, tc.want, events[0].GetRegistered().Capacity)

			s := driver.Number(nil, driverID, events)
			require.True(t, driver.Exists(s))
			require.Equal(t, driverID, s.Id)
			require.Equal(t, tc.want, s.Capacity)
			require.False(t, s.Available, "a new driver starts offline")
			require.Equal(t, int64(1), s.Version)
			require.Equal(t, t0, s.UpdatedAtMs)
			require.Equal(t, []string{"reg"}, s.RecentCommandIds)
			require.Equal(t, driver.Offline, driver.Status(s.Available, int(s.Capacity), 0))

			// Registering again is refused.
			_, rej = driver.Decide(s, register(admin, 2))
			require.NotNil(t, rej)
			require.Equal(t, actors.CodeAlreadyExists, rej.Code)
		})
	}
}

func TestSetAvailability(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		initially   bool // current availability
		by          *pb.Principal
		to          bool
		code        string
		wantChanged bool
	}{
		{"self goes available", false, self, true, "", true},
		{"self goes offline", true, self, false, "", true},
		{"admin sets available", false, admin, true, "", true},
		{"admin sets offline", true, admin, false, "", true},
		{"system sets offline", true, system, false, "", true},
		{"self, already available", true, self, true, "", false},
		{"self, already offline", false, self, false, "", false},
		{"admin, same value", true, admin, true, "", false},
		{"another driver", false, otherDriver, true, actors.CodeNotFound, false},
		{"another driver, same value", false, otherDriver, false, actors.CodeNotFound, false},
		{"customer", false, customer, true, actors.CodeNotFound, false},
		{"customer with the driver's id", false, customerSameID, true, actors.CodeNotFound, false},
		{"no principal", false, nil, true, actors.CodeNotFound, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := registered(t, 2, tc.initially)
			require.Equal(t, tc.initially, s.Available)
			before := proto.Clone(s)
			events, rej := driver.Decide(s, setAvailability(tc.by, tc.to))
			require.True(t, proto.Equal(before, s), "Decide mutated its state")
			if tc.code != "" {
				require.NotNil(t, rej)
				require.Equal(t, tc.code, rej.Code)
				require.Empty(t, events)
				return
			}
			require.Nil(t, rej)
			if !tc.wantChanged {
				require.Empty(t, events, "same value: no event")
				return
			}
			require.Len(t, events, 1)
			require.Equal(t, "driver.availability_changed", driver.EventType(events[0]))
			next := driver.Number(s, driverID, events)
			require.True(t, proto.Equal(before, s), "Apply mutated its state")
			require.Equal(t, tc.to, next.Available)
			require.Equal(t, s.Version+1, next.Version)
			require.Equal(t, s.Capacity, next.Capacity)
			require.Equal(t, t0+1000, next.UpdatedAtMs)
		})
	}
}

func TestDecideOnUnknownDriver(t *testing.T) {
	t.Parallel()
	for _, by := range []*pb.Principal{admin, system, self, otherDriver, customer} {
		for _, s := range []*pb.DriverState{nil, {}, {Id: driverID}} {
			for _, cmd := range []*pb.DriverCommand{
				setAvailability(by, true),
				setAvailability(by, false),
				{CommandId: "g", By: by, Body: &pb.DriverCommand_Get{Get: &pb.GetDriver{}}},
			} {
				_, rej := driver.Decide(s, cmd)
				require.NotNil(t, rej)
				require.Equal(t, actors.CodeNotFound, rej.Code)
			}
		}
	}
}

func TestGetAndUnknownCommand(t *testing.T) {
	t.Parallel()
	s := registered(t, 1, false)
	for _, tc := range []struct {
		by   *pb.Principal
		code string
	}{{self, ""}, {admin, ""}, {system, ""}, {otherDriver, actors.CodeNotFound}, {customer, actors.CodeNotFound}} {
		events, rej := driver.Decide(s, &pb.DriverCommand{CommandId: "g", By: tc.by, Body: &pb.DriverCommand_Get{Get: &pb.GetDriver{}}})
		require.Empty(t, events)
		if tc.code == "" {
			require.Nil(t, rej)
		} else {
			require.Equal(t, tc.code, rej.Code)
		}
	}
	_, rej := driver.Decide(s, &pb.DriverCommand{CommandId: "x", By: admin})
	require.NotNil(t, rej)
	require.Equal(t, actors.CodeValidation, rej.Code)
	// Unknown commands from strangers still reveal nothing.
	_, rej = driver.Decide(s, &pb.DriverCommand{CommandId: "x", By: otherDriver})
	require.Equal(t, actors.CodeNotFound, rej.Code)
}

func TestStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		available        bool
		capacity, active int
		want             string
	}{
		{false, 1, 0, driver.Offline},
		{true, 1, 0, driver.Available},
		{true, 1, 1, driver.Busy},
		{false, 1, 1, driver.Busy}, // went offline while holding an order
		{true, 3, 0, driver.Available},
		{true, 3, 1, driver.Available},
		{true, 3, 2, driver.Available},
		{true, 3, 3, driver.Busy},
		{true, 3, 4, driver.Busy}, // over capacity still busy
		{false, 3, 0, driver.Offline},
		{false, 3, 2, driver.Busy},
		{false, 3, 3, driver.Busy},
		{true, 0, 0, driver.Available}, // capacity 0 with nothing held is not busy
		{false, 0, 0, driver.Offline},
		{true, driver.MaxCapacity, driver.MaxCapacity - 1, driver.Available},
		{true, driver.MaxCapacity, driver.MaxCapacity, driver.Busy},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("available=%v/cap=%d/active=%d", tc.available, tc.capacity, tc.active), func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, driver.Status(tc.available, tc.capacity, tc.active))
			require.Contains(t, driver.Statuses, tc.want)
		})
	}
}

func TestEffectsAndRestore(t *testing.T) {
	t.Parallel()
	var s *pb.DriverState
	var journal []actors.Event
	cmds := []*pb.DriverCommand{
		register(admin, 3),
		setAvailability(self, true),
		setAvailability(admin, false),
		setAvailability(self, true),
	}
	for i, cmd := range cmds {
		cmd.AtMs = t0 + int64(i)*1000 + 7
		events, rej := driver.Decide(s, cmd)
		require.Nil(t, rej)
		next := driver.Number(s, driverID, events)
		c, err := driver.Effects(next, events)
		require.NoError(t, err)
		require.Len(t, c.Events, 1)
		ev := c.Events[0]
		require.Equal(t, actors.KindDriver, ev.Kind)
		require.Equal(t, driverID, ev.EntityID)
		require.Equal(t, int64(i+1), ev.Seq)
		require.Equal(t, driver.EventType(events[0]), ev.Type)
		require.Equal(t, cmd.CommandId, ev.CommandID)
		require.Equal(t, time.UnixMilli(cmd.AtMs).UTC(), ev.At)
		require.Equal(t, []actors.DriverRow{{
			ID: driverID, Available: next.Available, Capacity: 3, Version: int64(i + 1),
			UpdatedAt: time.UnixMilli(cmd.AtMs).UTC(),
		}}, c.Drivers)
		require.Empty(t, c.Loads, "a driver's own commits never touch its load")
		require.Empty(t, c.Orders)
		journal = append(journal, ev)
		s = next
	}
	got, err := driver.Restore(actors.Loaded{Events: journal})
	require.NoError(t, err)
	require.True(t, proto.Equal(s, got))

	// A snapshot of state at seq 2 plus the tail restores the same state.
	mid, err := driver.Restore(actors.Loaded{Events: journal[:2]})
	require.NoError(t, err)
	snapBytes, err := proto.Marshal(mid)
	require.NoError(t, err)
	got, err = driver.Restore(actors.Loaded{Snapshot: &actors.Snapshot{Kind: actors.KindDriver, EntityID: driverID, Seq: 2, State: snapBytes}, Events: journal[2:]})
	require.NoError(t, err)
	require.True(t, proto.Equal(s, got))

	_, err = driver.Restore(actors.Loaded{Events: []actors.Event{journal[0], journal[2]}})
	require.ErrorContains(t, err, "gap")

	// No events: an empty commit.
	c, err := driver.Effects(s, nil)
	require.NoError(t, err)
	require.Empty(t, c.Events)
	require.Empty(t, c.Drivers)
}

func TestExistsAndEventType(t *testing.T) {
	t.Parallel()
	require.False(t, driver.Exists(nil))
	require.False(t, driver.Exists(&pb.DriverState{Id: driverID}))
	require.True(t, driver.Exists(&pb.DriverState{Version: 1}))
	require.Equal(t, "driver.unknown", driver.EventType(&pb.DriverEvent{}))
}

// TestCanTake: I2 (DESIGN.md §2) — a driver holds at most capacity active
// orders, and an offline driver takes none.
func TestCanTake(t *testing.T) {
	t.Parallel()
	cases := []struct {
		available        bool
		capacity, active int
		want             bool
	}{
		{true, 1, 0, true},
		{true, 1, 1, false},  // at capacity
		{false, 1, 0, false}, // offline
		{true, 3, 2, true},
		{true, 3, 3, false},
		{true, 3, 4, false}, // over capacity (capacity lowered): still no
		{false, 3, 1, false},
		{true, driver.MaxCapacity, driver.MaxCapacity - 1, true},
		{true, driver.MaxCapacity, driver.MaxCapacity, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("available=%v/cap=%d/active=%d", tc.available, tc.capacity, tc.active), func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, driver.CanTake(tc.available, tc.capacity, tc.active))
			// A driver that can take an order is shown available.
			if tc.want {
				require.Equal(t, driver.Available, driver.Status(tc.available, tc.capacity, tc.active))
			}
		})
	}
}

package httpapi_test

// In-memory fakes of what httpapi.Server depends on (httpapi.Store and
// httpapi.Actors), for handler tests that run the real router without
// Postgres, NATS or a cluster.
//
// They are honest where the handlers under test reach them: the actors
// run the domain's own state machines (order.Decide, user.Decide,
// driver.Decide) and hand the store the same commits the real host
// writes (order.Effects, driver.Effects), and the store keeps the read
// model's contracts (newest-first pages after a cursor, ErrNotFound, the
// driver capacity guard of a DriverLoad). They are minimal elsewhere:
// the Store methods no test reaches are not faked, and calling one
// panics (the embedded interface is nil), which the router's panic
// handler answers 500 — a test that strays there fails on its status.
// Not modelled: the journal, snapshots, outbox, Idempotency-Key storage,
// e-mail uniqueness, sessions and locations.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/actors/user"
	"github.com/outrider/outrider/internal/password"
	"github.com/outrider/outrider/persistence"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/transport/httpapi"
)

// fakeStore is an in-memory httpapi.Store. Its mutex guards every map.
type fakeStore struct {
	httpapi.Store // not faked: nil, so an unfaked method panics

	mu       sync.Mutex
	users    map[string]persistence.User // by id
	drivers  map[string]persistence.Driver
	orders   map[string]actors.OrderRow
	timeline map[string][]actors.TimelineEntry // by order id
	refresh  map[string]persistence.RefreshToken
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		users: map[string]persistence.User{}, drivers: map[string]persistence.Driver{},
		orders: map[string]actors.OrderRow{}, timeline: map[string][]actors.TimelineEntry{},
		refresh: map[string]persistence.RefreshToken{},
	}
}

func (s *fakeStore) GetUser(_ context.Context, id string) (persistence.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return persistence.User{}, persistence.ErrNotFound
	}
	return u, nil
}

func (s *fakeStore) GetUserByEmail(_ context.Context, email string) (persistence.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) {
			return u, nil
		}
	}
	return persistence.User{}, persistence.ErrNotFound
}

func (s *fakeStore) CreateRefreshToken(_ context.Context, t persistence.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh[t.Hash] = t
	return nil
}

func (s *fakeStore) GetOrder(_ context.Context, id string) (actors.OrderRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return actors.OrderRow{}, persistence.ErrNotFound
	}
	return o, nil
}

// ListOrders keeps the read model's order: newest first by id (ids are
// time-ordered), after f.After, at most f.Limit, and whether more follow.
func (s *fakeStore) ListOrders(_ context.Context, f persistence.OrderFilter) ([]actors.OrderRow, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []actors.OrderRow
	for _, o := range s.orders {
		switch {
		case len(f.Statuses) > 0 && !slices.Contains(f.Statuses, o.Status),
			f.CustomerID != "" && o.CustomerID != f.CustomerID,
			f.DriverID != "" && o.DriverID != f.DriverID,
			f.UserID != "" && o.CustomerID != f.UserID && o.DriverID != f.UserID,
			f.After != "" && o.ID >= f.After:
			continue
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b actors.OrderRow) int { return strings.Compare(b.ID, a.ID) })
	if len(out) > f.Limit {
		return out[:f.Limit], true, nil
	}
	return out, false, nil
}

func (s *fakeStore) Timeline(_ context.Context, orderID string) ([]actors.TimelineEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.timeline[orderID]), nil
}

func (s *fakeStore) GetDriver(_ context.Context, id string) (persistence.Driver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.drivers[id]
	if !ok {
		return persistence.Driver{}, persistence.ErrNotFound
	}
	return d, nil
}

// ListDrivers pages drivers oldest first by id.
func (s *fakeStore) ListDrivers(_ context.Context, f persistence.DriverFilter) ([]persistence.Driver, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []persistence.Driver
	for _, d := range s.drivers {
		if (f.Status == "" || d.Status == f.Status) && d.ID > f.After {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b persistence.Driver) int { return strings.Compare(a.ID, b.ID) })
	if len(out) > f.Limit {
		return out[:f.Limit], true, nil
	}
	return out, false, nil
}

// commit applies the read-model part of an actor's commit, all or
// nothing: order rows, timeline lines, driver rows, and driver loads
// under the store's guard (a reservation needs an existing, available
// driver below capacity: actors.ErrDriverNotFound, ErrDriverUnavailable).
func (s *fakeStore) commit(c actors.Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	active := map[string]int{}
	for _, l := range c.Loads {
		d, ok := s.drivers[l.DriverID]
		if !ok {
			return actors.ErrDriverNotFound
		}
		n := d.ActiveOrders + active[l.DriverID]
		if l.Delta > 0 && !driver.CanTake(d.Available, d.Capacity, n) {
			return actors.ErrDriverUnavailable
		}
		active[l.DriverID] += l.Delta
	}
	for id, delta := range active {
		d := s.drivers[id]
		d.ActiveOrders = max(0, d.ActiveOrders+delta)
		d.Status = driver.Status(d.Available, d.Capacity, d.ActiveOrders)
		s.drivers[id] = d
	}
	for _, row := range c.Drivers {
		d := s.drivers[row.ID]
		d.Available, d.Capacity, d.UpdatedAt = row.Available, row.Capacity, row.UpdatedAt
		d.Status = driver.Status(d.Available, d.Capacity, d.ActiveOrders)
		s.drivers[row.ID] = d
	}
	for _, o := range c.Orders {
		s.orders[o.ID] = o
	}
	for _, e := range c.Timeline {
		s.timeline[e.OrderID] = append(s.timeline[e.OrderID], e)
	}
	return nil
}

// fakeActors is an in-memory httpapi.Actors: one state per entity, each
// command decided by the domain's machine. Its mutex serialises commands,
// as an actor's mailbox does.
type fakeActors struct {
	store *fakeStore
	now   func() time.Time

	mu      sync.Mutex
	orders  map[string]*pb.OrderState
	drivers map[string]*pb.DriverState
	users   map[string]*pb.UserState
}

func newFakeActors(store *fakeStore, now func() time.Time) *fakeActors {
	return &fakeActors{store: store, now: now, orders: map[string]*pb.OrderState{},
		drivers: map[string]*pb.DriverState{}, users: map[string]*pb.UserState{}}
}

func rejection(r *actors.Rejection) *pb.Rejection {
	return &pb.Rejection{Code: r.Code, Message: r.Message}
}

// guardRejection is the rejection for a store guard's refusal, as the
// host answers it.
func guardRejection(err error) *pb.Rejection {
	switch {
	case errors.Is(err, actors.ErrDriverUnavailable):
		return &pb.Rejection{Code: actors.CodeDriverUnavailable, Message: "the driver is offline or at capacity"}
	case errors.Is(err, actors.ErrDriverNotFound):
		return &pb.Rejection{Code: actors.CodeDriverNotFound, Message: "no such driver"}
	}
	return nil
}

func (a *fakeActors) Order(_ context.Context, id string, cmd *pb.OrderCommand) (*pb.OrderReply, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.orders[id]
	events, rej := order.Decide(prev, cmd)
	if rej != nil {
		return &pb.OrderReply{Rejection: rejection(rej)}, nil
	}
	next := order.Number(prev, id, events)
	c, err := order.Effects(prev, next, events)
	if err != nil {
		return nil, err
	}
	if err := a.store.commit(c); err != nil {
		if r := guardRejection(err); r != nil {
			return &pb.OrderReply{Rejection: r}, nil
		}
		return nil, err
	}
	a.orders[id] = next
	return &pb.OrderReply{Order: next}, nil
}

func (a *fakeActors) Driver(_ context.Context, id string, cmd *pb.DriverCommand) (*pb.DriverReply, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.drivers[id]
	events, rej := driver.Decide(prev, cmd)
	if rej != nil {
		return &pb.DriverReply{Rejection: rejection(rej)}, nil
	}
	next := driver.Number(prev, id, events)
	c, err := driver.Effects(next, events)
	if err != nil {
		return nil, err
	}
	if err := a.store.commit(c); err != nil {
		return nil, err
	}
	a.drivers[id] = next
	return &pb.DriverReply{Driver: next}, nil
}

// User decides user commands; the user's read-model row is written by
// addUser (the fake has no user commits to project).
func (a *fakeActors) User(_ context.Context, id string, cmd *pb.UserCommand) (*pb.UserReply, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.users[id]
	events, rej := user.Decide(prev, cmd)
	if rej != nil {
		return &pb.UserReply{Rejection: rejection(rej)}, nil
	}
	next := user.Number(prev, id, events)
	a.users[id] = next
	return &pb.UserReply{User: next}, nil
}

// Zone answers every zone query with no drivers (the zone actors are
// exercised against a running node in e2e/dispatch).
func (a *fakeActors) Zone(context.Context, string, *pb.ZoneMessage) (*pb.ZoneHits, error) {
	return &pb.ZoneHits{}, nil
}

// fakeClock is the server's clock; tests move it forward.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeUser is a user the fakes know, with the password to log in with.
type fakeUser struct {
	ID, Email, Password, Role string
}

// addUser creates a user of role through its actor, as the API does, and
// writes its row; a driver is also registered (capacity 2, available).
func addUser(t *testing.T, s *fakeStore, a *fakeActors, role string) fakeUser {
	t.Helper()
	id := "usr_" + ulid.Make().String()
	u := fakeUser{ID: id, Email: strings.ToLower(id) + "@example.test", Password: "password-" + id[len(id)-6:], Role: role}
	hash, err := password.Hash(u.Password, 4)
	require.NoError(t, err)
	system := &pb.Principal{UserId: "system", Role: actors.RoleSystem}
	at := a.now().UnixMilli()
	reply, err := a.User(t.Context(), id, &pb.UserCommand{CommandId: "create-" + id, By: system, AtMs: at,
		Body: &pb.UserCommand_Create{Create: &pb.CreateUser{Email: u.Email, Name: "Name " + role, Role: role, PasswordHash: hash}}})
	require.NoError(t, err)
	require.Nil(t, reply.GetRejection())
	s.mu.Lock()
	s.users[id] = persistence.User{UserRow: actors.UserRow{ID: id, Email: u.Email, Name: "Name " + role, Role: role,
		PasswordHash: hash, CreatedAt: a.now().UTC()}}
	if role == actors.RoleDriver {
		s.drivers[id] = persistence.Driver{ID: id, Name: "Name " + role, Email: u.Email, Status: driver.Offline}
	}
	s.mu.Unlock()
	if role == actors.RoleDriver {
		for _, cmd := range []*pb.DriverCommand{
			{Body: &pb.DriverCommand_Register{Register: &pb.RegisterDriver{Capacity: 2}}},
			{Body: &pb.DriverCommand_SetAvailability{SetAvailability: &pb.SetAvailability{Available: true}}},
		} {
			cmd.CommandId, cmd.By, cmd.AtMs = fmt.Sprintf("seed-%s-%T", id, cmd.Body), system, at
			dr, err := a.Driver(t.Context(), id, cmd)
			require.NoError(t, err)
			require.Nil(t, dr.GetRejection())
		}
	}
	return u
}

// The login throttle's counts: the handler tests never fail a login often
// enough to be delayed, so none is kept.

func (s *fakeStore) LoginFailuresOf(context.Context, []string, time.Time) (map[string]persistence.LoginFailureCount, error) {
	return nil, nil
}

func (s *fakeStore) AddLoginFailure(context.Context, []string, time.Time, time.Time) error {
	return nil
}

func (s *fakeStore) ClearLoginFailures(context.Context, []string) error { return nil }

package user_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	"github.com/outrider/outrider/actors/user"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

const (
	userID = "u1"
	t0     = int64(1_700_000_000_000)
	// A distinctive hash, so a leak into any payload is found by bytes.Contains.
	hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$SECRET-HASH-abcdef"
)

var (
	admin     = &pb.Principal{UserId: "a1", Role: actors.RoleAdmin}
	system    = &pb.Principal{UserId: "sys", Role: actors.RoleSystem}
	customer  = &pb.Principal{UserId: "c9", Role: actors.RoleCustomer}
	aDriver   = &pb.Principal{UserId: "d9", Role: actors.RoleDriver}
	anonymous = (*pb.Principal)(nil)
)

func createCmd(by *pb.Principal, c *pb.CreateUser) *pb.UserCommand {
	return &pb.UserCommand{CommandId: "create-1", By: by, AtMs: t0, Body: &pb.UserCommand_Create{Create: c}}
}

func newUser(role string) *pb.CreateUser {
	return &pb.CreateUser{Email: "Alice@Example.com", Name: "Alice", Phone: "+49 30 123", Role: role, PasswordHash: hash}
}

func TestCreateByRole(t *testing.T) {
	t.Parallel()
	creators := map[string]*pb.Principal{
		"anonymous": anonymous, "customer": customer, "driver": aDriver, "admin": admin, "system": system,
	}
	// Who may create which role: customers sign up (anyone); drivers and
	// admins are created by an admin or the system.
	allowed := map[string]map[string]bool{
		actors.RoleCustomer: {"anonymous": true, "customer": true, "driver": true, "admin": true, "system": true},
		actors.RoleDriver:   {"admin": true, "system": true},
		actors.RoleAdmin:    {"admin": true, "system": true},
	}
	cases := 0
	for _, role := range []string{actors.RoleCustomer, actors.RoleDriver, actors.RoleAdmin, actors.RoleSystem, "", "superuser"} {
		for cname, by := range creators {
			cases++
			role, cname, by := role, cname, by
			t.Run(role+"/by_"+cname, func(t *testing.T) {
				t.Parallel()
				events, rej := user.Decide(nil, createCmd(by, newUser(role)))
				perRole, known := allowed[role]
				switch {
				case !known:
					require.NotNil(t, rej)
					require.Equal(t, actors.CodeValidation, rej.Code)
				case !perRole[cname]:
					require.NotNil(t, rej)
					require.Equal(t, actors.CodeForbidden, rej.Code)
				default:
					require.Nil(t, rej)
					require.Len(t, events, 1)
					c := events[0].GetCreated()
					require.Equal(t, role, c.Role)
					require.Equal(t, "alice@example.com", c.Email)
					require.Equal(t, "Alice", c.Name)
					require.Equal(t, "+49 30 123", c.Phone)

					s := user.Number(nil, userID, events)
					require.True(t, user.Exists(s))
					require.Equal(t, userID, s.Id)
					require.Equal(t, role, s.Role)
					require.Equal(t, "alice@example.com", s.Email)
					require.Equal(t, t0, s.CreatedAtMs)
					require.Equal(t, int64(1), s.Version)
					require.Equal(t, []string{"create-1"}, s.RecentCommandIds)

					_, rej := user.Decide(s, createCmd(admin, newUser(role)))
					require.Equal(t, actors.CodeAlreadyExists, rej.Code)
				}
			})
		}
	}
	require.Equal(t, 30, cases)
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		email     string
		userName  string
		hash      string
		code      string
		wantEmail string
	}{
		{"plain", "bob@example.com", "Bob", hash, "", "bob@example.com"},
		{"mixed case normalised", "Bob.Smith@Example.COM", "Bob", hash, "", "bob.smith@example.com"},
		{"plus address", "bob+orders@example.co.uk", "Bob", hash, "", "bob+orders@example.co.uk"},
		{"empty", "", "Bob", hash, actors.CodeValidation, ""},
		{"no at", "bob.example.com", "Bob", hash, actors.CodeValidation, ""},
		{"no local part", "@example.com", "Bob", hash, actors.CodeValidation, ""},
		{"no domain", "bob@", "Bob", hash, actors.CodeValidation, ""},
		{"display name form", "Bob <bob@example.com>", "Bob", hash, actors.CodeValidation, ""},
		{"angle brackets only", "<bob@example.com>", "Bob", hash, actors.CodeValidation, ""},
		{"inner space", "bob smith@example.com", "Bob", hash, actors.CodeValidation, ""},
		{"leading space", " bob@example.com", "Bob", hash, actors.CodeValidation, ""},
		{"trailing space", "bob@example.com ", "Bob", hash, actors.CodeValidation, ""},
		{"two addresses", "a@example.com,b@example.com", "Bob", hash, actors.CodeValidation, ""},
		{"trailing newline", "bob@example.com\n", "Bob", hash, actors.CodeValidation, ""},
		{"double dot", "bob..smith@example.com", "Bob", hash, actors.CodeValidation, ""},
		{"empty name", "bob@example.com", "", hash, actors.CodeValidation, ""},
		{"blank name", "bob@example.com", " \t ", hash, actors.CodeValidation, ""},
		{"no password", "bob@example.com", "Bob", "", actors.CodeValidation, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &pb.CreateUser{Email: tc.email, Name: tc.userName, Role: actors.RoleCustomer, PasswordHash: tc.hash}
			events, rej := user.Decide(nil, createCmd(nil, c))
			if tc.code != "" {
				require.NotNil(t, rej, "email %q accepted", tc.email)
				require.Equal(t, tc.code, rej.Code)
				require.Empty(t, events)
				return
			}
			require.Nil(t, rej)
			require.Equal(t, tc.wantEmail, events[0].GetCreated().Email)
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a@b.co":               "a@b.co",
		"A@B.CO":               "a@b.co",
		"  Alice@Example.com ": "alice@example.com",
		"\tBOB@x.org\n":        "bob@x.org",
		"":                     "",
	} {
		require.Equal(t, want, user.NormalizeEmail(in), "%q", in)
		require.Equal(t, want, user.NormalizeEmail(user.NormalizeEmail(in)), "idempotent for %q", in)
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	events, rej := user.Decide(nil, createCmd(admin, newUser(actors.RoleCustomer)))
	require.Nil(t, rej)
	s := user.Number(nil, userID, events)
	get := func(by *pb.Principal) *pb.UserCommand {
		return &pb.UserCommand{CommandId: "g", By: by, Body: &pb.UserCommand_Get{Get: &pb.GetUser{}}}
	}
	for _, tc := range []struct {
		name string
		s    *pb.UserState
		by   *pb.Principal
		code string
	}{
		{"self", s, &pb.Principal{UserId: userID, Role: actors.RoleCustomer}, ""},
		{"admin", s, admin, ""},
		{"system", s, system, ""},
		{"another customer", s, customer, actors.CodeNotFound},
		{"a driver", s, aDriver, actors.CodeNotFound},
		{"anonymous", s, nil, actors.CodeNotFound},
		{"missing user, admin", nil, admin, actors.CodeNotFound},
		{"missing user, self", &pb.UserState{Id: userID}, &pb.Principal{UserId: userID, Role: actors.RoleCustomer}, actors.CodeNotFound},
	} {
		events, rej := user.Decide(tc.s, get(tc.by))
		require.Empty(t, events, tc.name)
		if tc.code == "" {
			require.Nil(t, rej, tc.name)
		} else {
			require.NotNil(t, rej, tc.name)
			require.Equal(t, tc.code, rej.Code, tc.name)
		}
	}
	_, rej = user.Decide(s, &pb.UserCommand{CommandId: "x", By: admin})
	require.Equal(t, actors.CodeValidation, rej.Code)
}

// commit runs create for role through Decide, Number and Effects.
func commit(t *testing.T, by *pb.Principal, c *pb.CreateUser) (*pb.UserState, actors.Commit) {
	t.Helper()
	cmd := createCmd(by, c)
	events, rej := user.Decide(nil, cmd)
	require.Nil(t, rej)
	next := user.Number(nil, userID, events)
	out, err := user.Effects(next, cmd, events)
	require.NoError(t, err)
	return next, out
}

func requireNoHash(t *testing.T, c actors.Commit) {
	t.Helper()
	for _, e := range c.Events {
		require.False(t, bytes.Contains(e.Payload, []byte(hash)), "password hash in %s journal payload", e.Type)
	}
	for _, s := range c.Snapshots {
		require.False(t, bytes.Contains(s.State, []byte(hash)), "password hash in snapshot")
	}
	for _, m := range c.Outbox {
		require.False(t, bytes.Contains(m.Payload, []byte(hash)), "password hash in outbox")
	}
}

func TestEffectsCustomerAndAdmin(t *testing.T) {
	t.Parallel()
	for _, role := range []string{actors.RoleCustomer, actors.RoleAdmin} {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			next, c := commit(t, admin, newUser(role))
			at := time.UnixMilli(t0).UTC()
			require.Len(t, c.Events, 1, "no driver registration for a %s", role)
			ev := c.Events[0]
			require.Equal(t, actors.KindUser, ev.Kind)
			require.Equal(t, userID, ev.EntityID)
			require.Equal(t, int64(1), ev.Seq)
			require.Equal(t, "user.created", ev.Type)
			require.Equal(t, "create-1", ev.CommandID)
			require.Equal(t, at, ev.At)
			require.Empty(t, c.Drivers)
			require.Empty(t, c.Loads)
			require.Equal(t, []actors.UserRow{{
				ID: userID, Email: "alice@example.com", Name: "Alice", Phone: "+49 30 123",
				Role: role, PasswordHash: hash, CreatedAt: at,
			}}, c.Users)
			requireNoHash(t, c)

			// The journaled event restores the state without the hash.
			got, err := user.Restore(actors.Loaded{Events: c.Events})
			require.NoError(t, err)
			require.True(t, proto.Equal(next, got))
			b, err := proto.Marshal(got)
			require.NoError(t, err)
			require.False(t, bytes.Contains(b, []byte(hash)))
		})
	}
}

func TestEffectsDriverUser(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		by           *pb.Principal
		capacity     int32
		wantCapacity int
	}{
		{"admin, default capacity", admin, 0, driver.DefaultCapacity},
		{"system, capacity 4", system, 4, 4},
		{"admin, max capacity", admin, driver.MaxCapacity, driver.MaxCapacity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cu := newUser(actors.RoleDriver)
			cu.DriverCapacity = tc.capacity
			_, c := commit(t, tc.by, cu)
			at := time.UnixMilli(t0).UTC()

			require.Len(t, c.Events, 2)
			require.Equal(t, actors.KindUser, c.Events[0].Kind)
			require.Equal(t, "user.created", c.Events[0].Type)
			reg := c.Events[1]
			require.Equal(t, actors.KindDriver, reg.Kind)
			require.Equal(t, userID, reg.EntityID, "the driver shares the user's id")
			require.Equal(t, int64(1), reg.Seq)
			require.Equal(t, "driver.registered", reg.Type)
			require.Equal(t, "create-1", reg.CommandID)
			require.Equal(t, at, reg.At)
			de := &pb.DriverEvent{}
			require.NoError(t, proto.Unmarshal(reg.Payload, de))
			require.Equal(t, int32(tc.wantCapacity), de.GetRegistered().GetCapacity())
			require.Equal(t, actors.RoleSystem, de.By.GetRole(), "registered by the system on the creator's behalf")
			require.Equal(t, tc.by.UserId, de.By.GetUserId())

			require.Equal(t, []actors.DriverRow{{
				ID: userID, Available: false, Capacity: tc.wantCapacity, Version: 1, UpdatedAt: at,
			}}, c.Drivers)
			require.Len(t, c.Users, 1)
			require.Equal(t, actors.RoleDriver, c.Users[0].Role)
			require.Equal(t, hash, c.Users[0].PasswordHash)
			requireNoHash(t, c)

			// The driver journal restores to a registered, offline driver.
			ds, err := driver.Restore(actors.Loaded{Events: c.Events[1:]})
			require.NoError(t, err)
			require.True(t, driver.Exists(ds))
			require.Equal(t, userID, ds.Id)
			require.Equal(t, int32(tc.wantCapacity), ds.Capacity)
			require.False(t, ds.Available)
		})
	}
}

// A driver capacity out of range cannot produce a commit. (It currently
// passes Decide and fails in Effects; see the report.)
func TestEffectsDriverUserBadCapacity(t *testing.T) {
	t.Parallel()
	for _, capacity := range []int32{-1, driver.MaxCapacity + 1} {
		cu := newUser(actors.RoleDriver)
		cu.DriverCapacity = capacity
		cmd := createCmd(admin, cu)
		events, rej := user.Decide(nil, cmd)
		if rej != nil {
			require.Equal(t, actors.CodeValidation, rej.Code)
			continue
		}
		next := user.Number(nil, userID, events)
		_, err := user.Effects(next, cmd, events)
		require.Error(t, err, "capacity %d", capacity)
	}
}

func TestApplyDoesNotMutate(t *testing.T) {
	t.Parallel()
	s := &pb.UserState{Id: userID, Email: "x@y.z", Version: 1, RecentCommandIds: append(make([]string, 0, 8), "a")}
	before := proto.Clone(s)
	n := user.Apply(s, &pb.UserEvent{UserId: userID, Seq: 2, CommandId: "b"})
	require.True(t, proto.Equal(before, s))
	require.Equal(t, []string{"a", "b"}, n.RecentCommandIds)
	require.Equal(t, int64(2), n.Version)
	require.Equal(t, "x@y.z", n.Email)
}

func TestExists(t *testing.T) {
	t.Parallel()
	require.False(t, user.Exists(nil))
	require.False(t, user.Exists(&pb.UserState{Id: userID}))
	require.True(t, user.Exists(&pb.UserState{Version: 1}))
}

package user_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/user"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

func roleCmd(by *pb.Principal, role string) *pb.UserCommand {
	return &pb.UserCommand{CommandId: "role-" + role, By: by, AtMs: t0 + 7000,
		Body: &pb.UserCommand_ChangeRole{ChangeRole: &pb.ChangeRole{Role: role}}}
}

// changeRole decides and applies cmd on s, returning the state and commit.
func changeRole(t *testing.T, s *pb.UserState, cmd *pb.UserCommand) (*pb.UserState, actors.Commit) {
	t.Helper()
	events, rej := user.Decide(s, cmd)
	require.Nil(t, rej)
	next := user.Number(s, userID, events)
	c, err := user.Effects(next, cmd, events)
	require.NoError(t, err)
	return next, c
}

// TestChangeRole (issue #14): admins change roles; a new role revokes the
// user's tokens (their claims carry it); a driver record is registered
// once, the first time the account becomes a driver.
func TestChangeRole(t *testing.T) {
	t.Parallel()
	s, _ := commit(t, system, newUser(actors.RoleCustomer))
	require.False(t, s.DriverRegistered)
	for _, by := range []*pb.Principal{customer, aDriver, {UserId: userID, Role: actors.RoleCustomer}} {
		_, rej := user.Decide(s, roleCmd(by, actors.RoleAdmin))
		require.Equal(t, actors.CodeForbidden, rej.Code)
	}
	_, rej := user.Decide(s, roleCmd(admin, "superuser"))
	require.Equal(t, actors.CodeValidation, rej.Code)
	events, rej := user.Decide(s, roleCmd(admin, actors.RoleCustomer))
	require.Nil(t, rej)
	require.Empty(t, events, "the same role changes nothing, revokes nothing")

	drv, c := changeRole(t, s, roleCmd(admin, actors.RoleDriver))
	require.Equal(t, actors.RoleDriver, drv.Role)
	require.True(t, drv.DriverRegistered)
	require.Equal(t, t0+7000, drv.SessionsRevokedBeforeMs)
	require.Len(t, c.TokensRevoked, 1)
	require.Len(t, c.Drivers, 1, "a new driver gets his record in the same commit")
	kinds := map[string]int{}
	for _, e := range c.Events {
		kinds[e.Kind]++
	}
	require.Equal(t, map[string]int{actors.KindUser: 2, actors.KindDriver: 1}, kinds, "role changed, sessions revoked; driver registered")
	role := actors.RoleDriver
	require.Contains(t, c.UserUpdates, actors.UserUpdate{ID: userID, Role: &role})

	back, c := changeRole(t, drv, roleCmd(admin, actors.RoleCustomer))
	require.Equal(t, actors.RoleCustomer, back.Role)
	require.True(t, back.DriverRegistered, "his record stays")
	require.Empty(t, c.Drivers)

	again, c := changeRole(t, back, roleCmd(admin, actors.RoleDriver))
	require.Equal(t, actors.RoleDriver, again.Role)
	require.Empty(t, c.Drivers, "a record is never registered twice")
	for _, e := range c.Events {
		require.Equal(t, actors.KindUser, e.Kind)
	}

	// A driver from the start has his record.
	born, _ := commit(t, admin, newUser(actors.RoleDriver))
	require.True(t, born.DriverRegistered)
	_, c = changeRole(t, born, roleCmd(admin, actors.RoleAdmin))
	require.Empty(t, c.Drivers)
}

package user_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/user"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// TestCommitGuards (issue 14 probe): the commits that may take an admin
// out of the active admins carry the store's last-admin guard; those of
// a password change, a switch-off and a new role spend the user's
// password reset tokens; the others carry neither.
func TestCommitGuards(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(t0 + 9000).UTC()
	self := &pb.Principal{UserId: userID}
	cmds := map[string]*pb.UserCommand{
		"off":      {Body: &pb.UserCommand_SetActive{SetActive: &pb.SetActive{Active: false}}},
		"demote":   {Body: &pb.UserCommand_ChangeRole{ChangeRole: &pb.ChangeRole{Role: actors.RoleDriver}}},
		"erase":    {Body: &pb.UserCommand_Erase{Erase: &pb.EraseUser{}}},
		"password": {Body: &pb.UserCommand_ChangePassword{ChangePassword: &pb.ChangePassword{PasswordHash: "h2"}}},
		"profile":  {Body: &pb.UserCommand_UpdateProfile{UpdateProfile: &pb.UpdateProfile{Name: new("Bob")}}},
		"revoke":   {Body: &pb.UserCommand_RevokeSessions{RevokeSessions: &pb.RevokeSessions{}}},
	}
	spends := map[string]bool{"off": true, "demote": true, "password": true}
	for _, role := range []string{actors.RoleAdmin, actors.RoleCustomer} {
		s, _ := commit(t, system, newUser(role))
		for name, cmd := range cmds {
			cmd.CommandId, cmd.AtMs, cmd.By = name, t0+9000, admin
			if name == "password" || name == "profile" {
				cmd.By = self
			}
			if name == "demote" && role != actors.RoleAdmin {
				cmd.GetChangeRole().Role = actors.RoleAdmin
			}
			events, rej := user.Decide(s, cmd)
			require.Nil(t, rej, "%s %s", role, name)
			next := user.Number(s, userID, events)
			c, err := user.Effects(next, cmd, events)
			require.NoError(t, err)
			if role == actors.RoleAdmin && (name == "off" || name == "demote" || name == "erase") {
				require.Equal(t, []string{userID}, c.AdminsLeaving, "%s %s", role, name)
			} else {
				require.Empty(t, c.AdminsLeaving, "%s %s", role, name)
			}
			if spends[name] {
				require.Equal(t, []actors.ResetSpend{{UserID: userID, At: at}}, c.ResetsSpent, "%s %s", role, name)
			} else {
				require.Empty(t, c.ResetsSpent, "%s %s", role, name)
			}
		}
	}
}

// TestNoPasswordChangeWhileOff: a switched-off account's password does
// not change (a reset confirmed as it is switched off); once on, it does.
func TestNoPasswordChangeWhileOff(t *testing.T) {
	t.Parallel()
	s, _ := commit(t, system, newUser(actors.RoleCustomer))
	set := func(active bool) *pb.UserCommand {
		return &pb.UserCommand{CommandId: "active", By: admin, AtMs: t0 + 1,
			Body: &pb.UserCommand_SetActive{SetActive: &pb.SetActive{Active: active}}}
	}
	change := &pb.UserCommand{CommandId: "pw", By: &pb.Principal{UserId: userID, Role: actors.RoleCustomer}, AtMs: t0 + 2,
		Body: &pb.UserCommand_ChangePassword{ChangePassword: &pb.ChangePassword{PasswordHash: "h2"}}}
	events, rej := user.Decide(s, set(false))
	require.Nil(t, rej)
	off := user.Number(s, userID, events)
	_, rej = user.Decide(off, change)
	require.NotNil(t, rej)
	require.Equal(t, actors.CodeUnauthorized, rej.Code)
	events, rej = user.Decide(off, set(true))
	require.Nil(t, rej)
	on := user.Number(off, userID, events)
	events, rej = user.Decide(on, change)
	require.Nil(t, rej)
	require.NotEmpty(t, events)
}

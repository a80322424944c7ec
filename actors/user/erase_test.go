package user_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/user"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

func eraseCmd(by *pb.Principal) *pb.UserCommand {
	return &pb.UserCommand{CommandId: "erase-1", By: by, AtMs: t0 + 5000, Body: &pb.UserCommand_Erase{Erase: &pb.EraseUser{}}}
}

// TestErase (issue #14): an admin erases another account: its state and
// the snapshot that replaces its journal hold nothing personal, the
// commit purges the journal before the erasure and erases the rows, the
// tokens are revoked, and the account is gone for every later command.
func TestErase(t *testing.T) {
	t.Parallel()
	s, _ := commit(t, system, newUser(actors.RoleCustomer))
	profile := &pb.UserCommand{CommandId: "p1", By: admin, AtMs: t0 + 1000,
		Body: &pb.UserCommand_UpdateProfile{UpdateProfile: &pb.UpdateProfile{Phone: proto.String("+49 30 999")}}}
	events, rej := user.Decide(s, profile)
	require.Nil(t, rej)
	s = user.Number(s, userID, events)

	for _, tc := range []struct {
		name string
		by   *pb.Principal
		code string
	}{
		{"customers do not", customer, actors.CodeForbidden},
		{"drivers do not", aDriver, actors.CodeForbidden},
		{"the user himself does not", &pb.Principal{UserId: userID, Role: actors.RoleCustomer}, actors.CodeForbidden},
		{"an admin not himself", &pb.Principal{UserId: userID, Role: actors.RoleAdmin}, actors.CodeEraseSelf},
	} {
		_, rej := user.Decide(s, eraseCmd(tc.by))
		require.NotNil(t, rej, tc.name)
		require.Equal(t, tc.code, rej.Code, tc.name)
	}
	_, rej = user.Decide(nil, eraseCmd(admin))
	require.Equal(t, actors.CodeNotFound, rej.Code)

	cmd := eraseCmd(admin)
	events, rej = user.Decide(s, cmd)
	require.Nil(t, rej)
	require.Equal(t, []string{"user.erased", "user.sessions_revoked"}, []string{user.EventType(events[0]), user.EventType(events[1])})
	next := user.Number(s, userID, events)
	require.True(t, next.Erased)
	require.True(t, next.Deactivated)
	require.Empty(t, next.Email)
	require.Empty(t, next.Name)
	require.Empty(t, next.Phone)
	require.Equal(t, actors.RoleCustomer, next.Role)
	require.Equal(t, t0+5000, next.SessionsRevokedBeforeMs)
	require.False(t, user.Exists(next), "an erased account is gone")

	c, err := user.Effects(next, cmd, events)
	require.NoError(t, err)
	personal := [][]byte{[]byte("Alice"), []byte("alice@example.com"), []byte("+49 30"), []byte(hash)}
	for _, e := range c.Events {
		for _, p := range personal {
			require.False(t, bytes.Contains(e.Payload, p), "%s holds %q", e.Type, p)
		}
	}
	require.Len(t, c.Snapshots, 1)
	require.Equal(t, next.Version, c.Snapshots[0].Seq)
	for _, p := range personal {
		require.False(t, bytes.Contains(c.Snapshots[0].State, p), "the snapshot holds %q", p)
	}
	require.Equal(t, []actors.Redaction{{Kind: actors.KindUser, EntityID: userID, PurgeBefore: s.Version + 1}}, c.Redactions,
		"everything journaled before the erasure goes")
	require.Len(t, c.Erasures, 1)
	require.Equal(t, userID, c.Erasures[0].ID)
	require.Len(t, c.TokensRevoked, 1)

	// What is left loads: the snapshot alone.
	restored, err := user.Restore(actors.Loaded{Snapshot: &c.Snapshots[0]})
	require.NoError(t, err)
	require.True(t, restored.Erased)

	// A repeat changes nothing; every other command finds no account.
	events, rej = user.Decide(next, eraseCmd(admin))
	require.Nil(t, rej)
	require.Empty(t, events)
	for _, cmd := range []*pb.UserCommand{
		profile,
		{By: admin, Body: &pb.UserCommand_SetActive{SetActive: &pb.SetActive{Active: true}}},
		{By: admin, Body: &pb.UserCommand_Get{Get: &pb.GetUser{}}},
		{By: system, Body: &pb.UserCommand_RevokeSessions{RevokeSessions: &pb.RevokeSessions{}}},
		createCmd(system, newUser(actors.RoleCustomer)),
	} {
		_, rej := user.Decide(next, cmd)
		require.NotNil(t, rej)
		require.Contains(t, []string{actors.CodeNotFound, actors.CodeAlreadyExists}, rej.Code)
	}
	_, _, rej = user.OpenSession(next, &pb.OpenSession{Session: &pb.Session{Id: "s1", ExpiresAtMs: t0 + 60_000}, TokenIssuedAtMs: t0 + 6000}, t0+6000)
	require.NotNil(t, rej, "an erased account opens no socket")
}

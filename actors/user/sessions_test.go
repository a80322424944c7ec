package user_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors/user"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// TestSessionCap (issue #14, finding 3): a user's live sessions are
// capped; a new one beyond the cap evicts the oldest, a renewal keeps its
// place and evicts nobody, expired sessions do not count.
func TestSessionCap(t *testing.T) {
	t.Parallel()
	s := &pb.UserState{Id: "u1", Version: 1, Role: "customer"}
	open := func(s *pb.UserState, id string, expires, now int64, max int32) (*pb.UserState, []string) {
		t.Helper()
		next, evicted, rej := user.OpenSession(s, &pb.OpenSession{
			Session: &pb.Session{Id: id, Inbox: "n1", ExpiresAtMs: expires}, MaxSessions: max}, now)
		require.Nil(t, rej)
		var ids []string
		for _, e := range evicted {
			ids = append(ids, e.Id)
		}
		return next, ids
	}
	ids := func(s *pb.UserState) []string {
		var out []string
		for _, x := range s.Sessions {
			out = append(out, x.Id)
		}
		return out
	}
	var ev []string
	for _, id := range []string{"a", "b", "c"} {
		s, ev = open(s, id, 1000, 10, 3)
		require.Empty(t, ev)
	}
	s, ev = open(s, "a", 2000, 20, 3) // a renewal
	require.Empty(t, ev)
	require.Equal(t, []string{"a", "b", "c"}, ids(s), "a renewal keeps its place")
	s, ev = open(s, "d", 1000, 30, 3)
	require.Equal(t, []string{"a"}, ev, "the oldest goes")
	require.Equal(t, []string{"b", "c", "d"}, ids(s))
	s, ev = open(s, "e", 1000, 40, 1)
	require.Equal(t, []string{"b", "c", "d"}, ev, "a lower cap evicts all but the newest")
	require.Equal(t, []string{"e"}, ids(s))
	s, ev = open(s, "f", 5000, 1500, 1)
	require.Empty(t, ev, "an expired session counts for nothing")
	require.Equal(t, []string{"f"}, ids(s))
	for _, id := range []string{"g", "h", "i", "j"} {
		s, ev = open(s, id, 5000, 1600, 0)
		require.Empty(t, ev, "no cap")
	}
	require.Len(t, s.Sessions, 5)
}

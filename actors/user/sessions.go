package user

import (
	"slices"

	"github.com/outrider/outrider/actors"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// InboxSubject is the NATS subject of a node's gateway inbox:
// wire.InboxSubject, which new code calls directly.
func InboxSubject(nodeID string) string { return wire.InboxSubject(nodeID) }

// OpenSession registers or renews a session of s at time now, dropping
// expired ones. A token issued before the user's sessions were revoked is
// refused. A new session beyond o.MaxSessions (when set) evicts the
// oldest ones, which the caller closes; a renewal keeps its place, so
// "oldest" is the order the sessions opened in. States are copied, never
// changed in place.
func OpenSession(s *pb.UserState, o *pb.OpenSession, now int64) (*pb.UserState, []*pb.Session, *actors.Rejection) {
	if !Exists(s) {
		return s, nil, actors.Reject(actors.CodeNotFound, "user not found")
	}
	if s.Deactivated || o.GetTokenIssuedAtMs() < s.SessionsRevokedBeforeMs {
		return s, nil, actors.Reject(actors.CodeUnauthorized, "this token was revoked; log in again")
	}
	sessions := live(s.Sessions, now, "")
	if i := slices.IndexFunc(sessions, func(x *pb.Session) bool { return x.Id == o.GetSession().GetId() }); i >= 0 {
		sessions[i] = o.GetSession()
		return withSessions(s, sessions), nil, nil
	}
	sessions = append(sessions, o.GetSession())
	var evicted []*pb.Session
	if max := int(o.GetMaxSessions()); max > 0 && len(sessions) > max {
		evicted = slices.Clone(sessions[:len(sessions)-max])
		sessions = sessions[len(sessions)-max:]
	}
	return withSessions(s, sessions), evicted, nil
}

// CloseSession forgets a session.
func CloseSession(s *pb.UserState, id string, now int64) *pb.UserState {
	if !Exists(s) {
		return s
	}
	return withSessions(s, live(s.Sessions, now, id))
}

// Live returns the sessions of s not expired at now.
func Live(s *pb.UserState, now int64) []*pb.Session { return live(s.GetSessions(), now, "") }

func live(sessions []*pb.Session, now int64, drop string) []*pb.Session {
	out := make([]*pb.Session, 0, len(sessions)+1)
	for _, x := range sessions {
		if x.ExpiresAtMs > now && x.Id != drop {
			out = append(out, x)
		}
	}
	return out
}

// ByInbox groups session ids by the inbox of their node.
func ByInbox(sessions []*pb.Session) map[string][]string {
	out := map[string][]string{}
	for _, x := range sessions {
		out[x.Inbox] = append(out[x.Inbox], x.Id)
	}
	return out
}

func withSessions(s *pb.UserState, sessions []*pb.Session) *pb.UserState {
	return &pb.UserState{Id: s.Id, Email: s.Email, Name: s.Name, Phone: s.Phone, Role: s.Role,
		Version: s.Version, CreatedAtMs: s.CreatedAtMs, RecentCommandIds: slices.Clone(s.RecentCommandIds),
		SessionsRevokedBeforeMs: s.SessionsRevokedBeforeMs, Sessions: sessions, Deactivated: s.Deactivated, Erased: s.Erased,
		DriverRegistered: s.DriverRegistered}
}

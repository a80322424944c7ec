package host

import (
	"encoding/json"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/user"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// sessionCommand handles the user actor's ephemeral commands — sessions
// and pushes — which journal nothing. ok is false for other commands.
func (h *Host) sessionCommand(s *pb.UserState, id string, cmd *pb.UserCommand) (*pb.UserState, *actors.Rejection, bool) {
	now := time.Now().UnixMilli()
	switch b := cmd.Body.(type) {
	case *pb.UserCommand_OpenSession:
		next, evicted, rej := user.OpenSession(s, b.OpenSession, now)
		for inbox, ids := range user.ByInbox(evicted) {
			h.publish(inbox, wire.InboxMessage{Op: wire.OpEvict, UserID: id, SessionIDs: ids,
				Reason: "a newer session of this user took its place (session limit)"})
		}
		return next, rej, true
	case *pb.UserCommand_CloseSession:
		return user.CloseSession(s, b.CloseSession.GetSessionId(), now), nil, true
	case *pb.UserCommand_Push:
		if !user.Exists(s) {
			return s, actors.Reject(actors.CodeNotFound, "user not found"), true
		}
		for inbox, ids := range user.ByInbox(user.Live(s, now)) {
			h.publish(inbox, wire.InboxMessage{Op: wire.OpPush, UserID: id, SessionIDs: ids, Frame: b.Push.GetFrame()})
		}
		return s, nil, true
	}
	return s, nil, false
}

// closeSessions tells every node holding a live session of the user that
// it was revoked; called once the revocation is durable.
func (h *Host) closeSessions(s *pb.UserState, _ *pb.UserCommand) {
	if h.cfg.Inbox != nil {
		if b, err := json.Marshal(wire.TokenRevocation{UserID: s.Id, BeforeMs: s.SessionsRevokedBeforeMs}); err == nil {
			if err := h.cfg.Inbox.Publish(wire.TokenRevocations, b); err != nil {
				h.cfg.Logger.Warn("publish a token revocation", "user", s.Id, "err", err)
			}
		}
	}
	for inbox, ids := range user.ByInbox(user.Live(s, time.Now().UnixMilli())) {
		h.publish(inbox, wire.InboxMessage{Op: wire.OpRevoke, UserID: s.Id, SessionIDs: ids,
			Reason: "logged out; log in again"})
	}
}

// tellFleet tells the gateways' `fleet` watchers that a driver changed
// (committed: the read model already has it): his availability or
// capacity (s, from his own actor), or the orders he holds (s nil, from
// an order actor). The message carries what the caller knows and the
// gateway sends the driver's read-model row. Core NATS through the Inbox
// publisher, fire and forget.
func (h *Host) tellFleet(id string, s *pb.DriverState) {
	if h.cfg.Inbox == nil {
		return
	}
	b, err := json.Marshal(wire.DriverState{DriverID: id, Available: s.GetAvailable(), Capacity: int(s.GetCapacity())})
	if err != nil {
		return
	}
	if err := h.cfg.Inbox.Publish(wire.FleetDriverSubject(id), b); err != nil {
		h.cfg.Logger.Warn("publish a driver's state to the fleet", "driver", id, "err", err)
	}
}

func (h *Host) publish(inbox string, m wire.InboxMessage) {
	if h.cfg.Inbox == nil {
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	if err := h.cfg.Inbox.Publish(inbox, b); err != nil {
		h.cfg.Logger.Warn("publish to gateway inbox", "inbox", inbox, "err", err)
	}
}

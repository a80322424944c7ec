// Package user is the user's state machine. A user is created once (signup
// for customers; an admin, the bootstrap or the CLI for drivers and admins);
// creating a driver also registers the driver in the same commit, so a
// driver account never exists without its driver record.
package user

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Limits of a user's profile.
const (
	MaxName  = 200
	MaxPhone = 32
)

// Exists reports whether the user has been created and not erased: an
// erased account is gone for every command but a repeated erasure.
func Exists(s *pb.UserState) bool { return s != nil && s.Version > 0 && !s.Erased }

// Decide validates cmd against s and returns the events it produces.
func Decide(s *pb.UserState, cmd *pb.UserCommand) ([]*pb.UserEvent, *actors.Rejection) {
	by := cmd.GetBy()
	switch b := cmd.Body.(type) {
	case *pb.UserCommand_Create:
		c := b.Create
		if s.GetVersion() > 0 {
			return nil, actors.Reject(actors.CodeAlreadyExists, "user already exists")
		}
		switch c.Role {
		case actors.RoleCustomer:
		case actors.RoleDriver, actors.RoleAdmin:
			if by.GetRole() != actors.RoleAdmin && by.GetRole() != actors.RoleSystem {
				return nil, actors.Reject(actors.CodeForbidden, "only admins create drivers and admins")
			}
		default:
			return nil, actors.Reject(actors.CodeValidation, "role must be customer, driver or admin")
		}
		if c.Role == actors.RoleDriver && (c.DriverCapacity < 0 || c.DriverCapacity > driver.MaxCapacity) {
			return nil, actors.Reject(actors.CodeValidation, fmt.Sprintf("capacity must be 1..%d", driver.MaxCapacity))
		}
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
			return nil, actors.Reject(actors.CodeValidation, "email is not a valid address")
		}
		if strings.TrimSpace(c.Name) == "" || c.PasswordHash == "" {
			return nil, actors.Reject(actors.CodeValidation, "name and password are required")
		}
		e := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId()}
		e.Body = &pb.UserEvent_Created{Created: &pb.UserCreated{
			Email: NormalizeEmail(c.Email), Name: c.Name, Phone: c.Phone, Role: c.Role,
		}}
		return []*pb.UserEvent{e}, nil
	case *pb.UserCommand_RevokeSessions:
		if !Exists(s) {
			return nil, actors.Reject(actors.CodeNotFound, "user not found")
		}
		if by.GetRole() != actors.RoleAdmin && by.GetRole() != actors.RoleSystem && by.GetUserId() != s.Id {
			return nil, actors.Reject(actors.CodeNotFound, "user not found")
		}
		e := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId()}
		e.Body = &pb.UserEvent_SessionsRevoked{SessionsRevoked: &pb.SessionsRevoked{BeforeMs: cmd.GetAtMs()}}
		return []*pb.UserEvent{e}, nil
	case *pb.UserCommand_UpdateProfile:
		if !Exists(s) || (by.GetRole() != actors.RoleAdmin && by.GetUserId() != s.Id) {
			return nil, actors.Reject(actors.CodeNotFound, "user not found")
		}
		u := b.UpdateProfile
		name, phone := s.Name, s.Phone
		if u.Name != nil {
			name = strings.TrimSpace(u.GetName())
		}
		if u.Phone != nil {
			phone = strings.TrimSpace(u.GetPhone())
		}
		if name == "" || len(name) > MaxName || len(phone) > MaxPhone {
			return nil, actors.Reject(actors.CodeValidation, fmt.Sprintf("a name of 1..%d characters and a phone of at most %d", MaxName, MaxPhone))
		}
		if name == s.Name && phone == s.Phone {
			return nil, nil // nothing changes
		}
		e := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId()}
		e.Body = &pb.UserEvent_ProfileUpdated{ProfileUpdated: &pb.ProfileUpdated{Name: name, Phone: phone}}
		return []*pb.UserEvent{e}, nil
	case *pb.UserCommand_ChangePassword:
		if !Exists(s) || by.GetUserId() != s.Id {
			return nil, actors.Reject(actors.CodeNotFound, "user not found")
		}
		if s.Deactivated {
			// Decided here, in the actor that also switches accounts
			// off, so a reset confirmed as an admin switches the account
			// off cannot slip in after the switch.
			return nil, actors.Reject(actors.CodeUnauthorized, "the account is switched off")
		}
		if b.ChangePassword.GetPasswordHash() == "" {
			return nil, actors.Reject(actors.CodeValidation, "a password is required")
		}
		changed := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId(),
			Body: &pb.UserEvent_PasswordChanged{PasswordChanged: &pb.PasswordChanged{}}}
		revoked := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId(),
			Body: &pb.UserEvent_SessionsRevoked{SessionsRevoked: &pb.SessionsRevoked{BeforeMs: cmd.GetAtMs()}}}
		return []*pb.UserEvent{changed, revoked}, nil
	case *pb.UserCommand_SetActive:
		if !Exists(s) {
			return nil, actors.Reject(actors.CodeNotFound, "user not found")
		}
		if by.GetRole() != actors.RoleAdmin {
			return nil, actors.Reject(actors.CodeForbidden, "only admins switch accounts off and on")
		}
		if by.GetUserId() == s.Id {
			return nil, actors.Reject(actors.CodeValidation, "an admin cannot switch his own account off or on")
		}
		active := b.SetActive.GetActive()
		if active == !s.Deactivated {
			return nil, nil // already so
		}
		e := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId(),
			Body: &pb.UserEvent_ActiveChanged{ActiveChanged: &pb.ActiveChanged{Active: active}}}
		if active {
			return []*pb.UserEvent{e}, nil
		}
		revoked := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId(),
			Body: &pb.UserEvent_SessionsRevoked{SessionsRevoked: &pb.SessionsRevoked{BeforeMs: cmd.GetAtMs()}}}
		return []*pb.UserEvent{e, revoked}, nil
	case *pb.UserCommand_ChangeRole:
		if !Exists(s) {
			return nil, actors.Reject(actors.CodeNotFound, "user not found")
		}
		if by.GetRole() != actors.RoleAdmin && by.GetRole() != actors.RoleSystem {
			return nil, actors.Reject(actors.CodeForbidden, "only admins change roles")
		}
		c := b.ChangeRole
		switch c.Role {
		case actors.RoleCustomer, actors.RoleDriver, actors.RoleAdmin:
		default:
			return nil, actors.Reject(actors.CodeValidation, "role must be customer, driver or admin")
		}
		if c.DriverCapacity < 0 || c.DriverCapacity > driver.MaxCapacity {
			return nil, actors.Reject(actors.CodeValidation, fmt.Sprintf("capacity must be 1..%d", driver.MaxCapacity))
		}
		if c.Role == s.Role {
			return nil, nil // already so
		}
		// The role is in the access tokens' claims: the old ones go.
		changed := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId(),
			Body: &pb.UserEvent_RoleChanged{RoleChanged: &pb.RoleChanged{From: s.Role, To: c.Role,
				RegisterDriver: c.Role == actors.RoleDriver && !s.DriverRegistered}}}
		revoked := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId(),
			Body: &pb.UserEvent_SessionsRevoked{SessionsRevoked: &pb.SessionsRevoked{BeforeMs: cmd.GetAtMs()}}}
		return []*pb.UserEvent{changed, revoked}, nil
	case *pb.UserCommand_Erase:
		if s.GetVersion() == 0 {
			return nil, actors.Reject(actors.CodeNotFound, "user not found")
		}
		if by.GetRole() != actors.RoleAdmin && by.GetRole() != actors.RoleSystem {
			return nil, actors.Reject(actors.CodeForbidden, "only admins erase accounts")
		}
		if by.GetUserId() == s.Id {
			return nil, actors.Reject(actors.CodeEraseSelf, "an admin cannot erase his own account")
		}
		if s.Erased {
			return nil, nil // already erased
		}
		erased := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId(),
			Body: &pb.UserEvent_Erased{Erased: &pb.UserErased{}}}
		revoked := &pb.UserEvent{AtMs: cmd.GetAtMs(), By: by, CommandId: cmd.GetCommandId(),
			Body: &pb.UserEvent_SessionsRevoked{SessionsRevoked: &pb.SessionsRevoked{BeforeMs: cmd.GetAtMs()}}}
		return []*pb.UserEvent{erased, revoked}, nil
	case *pb.UserCommand_Get:
		if !Exists(s) {
			return nil, actors.Reject(actors.CodeNotFound, "user not found")
		}
		if by.GetRole() != actors.RoleAdmin && by.GetRole() != actors.RoleSystem && by.GetUserId() != s.Id {
			return nil, actors.Reject(actors.CodeNotFound, "user not found")
		}
		return nil, nil
	}
	return nil, actors.Reject(actors.CodeValidation, "unknown user command")
}

// NormalizeEmail is the canonical form e-mail addresses are stored and
// compared in.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Apply folds e into s.
func Apply(s *pb.UserState, e *pb.UserEvent) *pb.UserState {
	n := &pb.UserState{}
	if s != nil {
		n = proto.Clone(s).(*pb.UserState)
	}
	n.Id = e.UserId
	n.Version = e.Seq
	n.RecentCommandIds = actors.RememberCommand(n.RecentCommandIds, e.CommandId)
	if c := e.GetCreated(); c != nil {
		n.Email, n.Name, n.Phone, n.Role = c.Email, c.Name, c.Phone, c.Role
		n.CreatedAtMs = e.AtMs
		n.DriverRegistered = c.Role == actors.RoleDriver
	}
	if r := e.GetRoleChanged(); r != nil {
		n.Role = r.To
		n.DriverRegistered = n.DriverRegistered || r.RegisterDriver
	}
	if p := e.GetProfileUpdated(); p != nil {
		n.Name, n.Phone = p.Name, p.Phone
	}
	if a := e.GetActiveChanged(); a != nil {
		n.Deactivated = !a.Active
	}
	if e.GetErased() != nil {
		n.Email, n.Name, n.Phone = "", "", ""
		n.Erased, n.Deactivated = true, true
	}
	if r := e.GetSessionsRevoked(); r != nil {
		// The live sessions stay listed until their gateways report them
		// closed: the actor tells those gateways to close them.
		n.SessionsRevokedBeforeMs = max(n.SessionsRevokedBeforeMs, r.BeforeMs)
	}
	return n
}

// Number numbers events after s's version for user id.
func Number(s *pb.UserState, id string, events []*pb.UserEvent) *pb.UserState {
	next := s
	for _, e := range events {
		e.UserId = id
		e.Seq = next.GetVersion() + 1
		next = Apply(next, e)
	}
	return next
}

// Effects is the commit persisting numbered events leading to next. The
// creation event writes the user row with the credentials from cmd and,
// for a driver, registers the driver (its first journal event and row).
// Switching an admin off, taking his role or erasing him carries the
// store's last-admin guard (actors.Commit.AdminsLeaving); a password
// change, a switch-off and a new role spend the user's password reset
// tokens (actors.Commit.ResetsSpent).
func Effects(next *pb.UserState, cmd *pb.UserCommand, events []*pb.UserEvent) (actors.Commit, error) {
	var c actors.Commit
	for _, e := range events {
		payload, err := proto.Marshal(e)
		if err != nil {
			return c, fmt.Errorf("encode user event: %w", err)
		}
		at := time.UnixMilli(e.AtMs).UTC()
		c.Events = append(c.Events, actors.Event{
			Kind: actors.KindUser, EntityID: e.UserId, Seq: e.Seq, Type: EventType(e),
			Payload: payload, CommandID: e.CommandId, At: at,
		})
		if r := e.GetSessionsRevoked(); r != nil {
			c.TokensRevoked = append(c.TokensRevoked, actors.TokenRevocation{UserID: e.UserId, Before: time.UnixMilli(r.BeforeMs).UTC()})
		}
		if p := e.GetProfileUpdated(); p != nil {
			c.UserUpdates = append(c.UserUpdates, actors.UserUpdate{ID: e.UserId, Name: &p.Name, Phone: &p.Phone})
		}
		if a := e.GetActiveChanged(); a != nil {
			active := a.Active
			c.UserUpdates = append(c.UserUpdates, actors.UserUpdate{ID: e.UserId, Active: &active})
			if !active {
				c.ResetsSpent = append(c.ResetsSpent, actors.ResetSpend{UserID: e.UserId, At: at})
				if next.Role == actors.RoleAdmin {
					c.AdminsLeaving = append(c.AdminsLeaving, e.UserId)
				}
			}
		}
		if r := e.GetRoleChanged(); r != nil {
			role := r.To
			c.UserUpdates = append(c.UserUpdates, actors.UserUpdate{ID: e.UserId, Role: &role})
			// A token mailed to the account before does not get the keys
			// to it in its new role.
			c.ResetsSpent = append(c.ResetsSpent, actors.ResetSpend{UserID: e.UserId, At: at})
			if r.From == actors.RoleAdmin {
				c.AdminsLeaving = append(c.AdminsLeaving, e.UserId)
			}
			if r.RegisterDriver {
				dc, err := registerDriver(e, cmd.GetChangeRole().GetDriverCapacity())
				if err != nil {
					return c, err
				}
				c.Events = append(c.Events, dc.Events...)
				c.Drivers = append(c.Drivers, dc.Drivers...)
			}
		}
		if e.GetErased() != nil {
			if err := erasure(&c, next, e); err != nil {
				return c, err
			}
			if next.Role == actors.RoleAdmin {
				c.AdminsLeaving = append(c.AdminsLeaving, e.UserId)
			}
		}
		if e.GetPasswordChanged() != nil {
			h := cmd.GetChangePassword().GetPasswordHash()
			c.UserUpdates = append(c.UserUpdates, actors.UserUpdate{ID: e.UserId, PasswordHash: &h})
			c.ResetsSpent = append(c.ResetsSpent, actors.ResetSpend{UserID: e.UserId, At: at})
		}
		created := e.GetCreated()
		if created == nil {
			continue
		}
		c.Users = append(c.Users, actors.UserRow{
			ID: e.UserId, Email: created.Email, Name: created.Name, Phone: created.Phone,
			Role: created.Role, PasswordHash: cmd.GetCreate().GetPasswordHash(), CreatedAt: at,
		})
		if created.Role == actors.RoleDriver {
			dc, err := registerDriver(e, cmd.GetCreate().GetDriverCapacity())
			if err != nil {
				return c, err
			}
			c.Events = append(c.Events, dc.Events...)
			c.Drivers = append(c.Drivers, dc.Drivers...)
		}
	}
	return c, nil
}

// erasure adds to c what erasing the user by event e takes beyond the
// event: his journal before it purged, a snapshot of next (which holds
// nothing personal) in its place, and his rows erased (actors.UserErasure).
func erasure(c *actors.Commit, next *pb.UserState, e *pb.UserEvent) error {
	kept := proto.Clone(next).(*pb.UserState)
	kept.Sessions = nil // live sockets are memory, not history
	snap, err := proto.Marshal(kept)
	if err != nil {
		return fmt.Errorf("encode user snapshot: %w", err)
	}
	c.Snapshots = append(c.Snapshots, actors.Snapshot{Kind: actors.KindUser, EntityID: e.UserId, Seq: next.Version, State: snap})
	c.Redactions = append(c.Redactions, actors.Redaction{Kind: actors.KindUser, EntityID: e.UserId, PurgeBefore: e.Seq})
	c.Erasures = append(c.Erasures, actors.UserErasure{ID: e.UserId, At: time.UnixMilli(e.AtMs).UTC()})
	return nil
}

func registerDriver(e *pb.UserEvent, capacity int32) (actors.Commit, error) {
	cmd := &pb.DriverCommand{
		CommandId: e.CommandId, By: &pb.Principal{UserId: e.By.GetUserId(), Role: actors.RoleSystem}, AtMs: e.AtMs,
		Body: &pb.DriverCommand_Register{Register: &pb.RegisterDriver{Capacity: capacity}},
	}
	events, rej := driver.Decide(nil, cmd)
	if rej != nil {
		return actors.Commit{}, rej
	}
	next := driver.Number(nil, e.UserId, events)
	return driver.Effects(next, events)
}

// Restore rebuilds a user from what the store loaded.
func Restore(l actors.Loaded) (*pb.UserState, error) {
	s := &pb.UserState{}
	if l.Snapshot != nil {
		if err := proto.Unmarshal(l.Snapshot.State, s); err != nil {
			return nil, fmt.Errorf("decode user snapshot: %w", err)
		}
	}
	for _, rec := range l.Events {
		e := &pb.UserEvent{}
		if err := proto.Unmarshal(rec.Payload, e); err != nil {
			return nil, fmt.Errorf("decode user event %d: %w", rec.Seq, err)
		}
		if e.Seq != s.Version+1 {
			return nil, fmt.Errorf("user %s journal gap: have version %d, next event is %d", rec.EntityID, s.Version, e.Seq)
		}
		s = Apply(s, e)
	}
	return s, nil
}

// EventType is the public name of a user event.
func EventType(e *pb.UserEvent) string {
	switch e.Body.(type) {
	case *pb.UserEvent_Created:
		return "user.created"
	case *pb.UserEvent_SessionsRevoked:
		return "user.sessions_revoked"
	case *pb.UserEvent_ProfileUpdated:
		return "user.profile_updated"
	case *pb.UserEvent_PasswordChanged:
		return "user.password_changed"
	case *pb.UserEvent_ActiveChanged:
		return "user.active_changed"
	case *pb.UserEvent_Erased:
		return "user.erased"
	case *pb.UserEvent_RoleChanged:
		return "user.role_changed"
	}
	return "user.unknown"
}

package httpapi

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/user"
	"github.com/outrider/outrider/internal/password"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// updateMe serves PATCH /v1/me: the caller's name and phone.
func (s *Server) updateMe(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name  *string `json:"name"`
		Phone *string `json:"phone"`
	}
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	var fe []problem.FieldError
	if req.Name != nil && (strings.TrimSpace(*req.Name) == "" || len(*req.Name) > user.MaxName) {
		fe = append(fe, problem.FieldError{Field: "name", Message: "must be 1 to 200 characters"})
	}
	if req.Phone != nil && len(*req.Phone) > user.MaxPhone {
		fe = append(fe, problem.FieldError{Field: "phone", Message: "must be at most 32 characters"})
	}
	if len(fe) > 0 {
		return invalid(fe...)
	}
	u, err := s.userCommand(r, c, c.principal.UserID, "", &pb.UserCommand{Body: &pb.UserCommand_UpdateProfile{
		UpdateProfile: &pb.UpdateProfile{Name: req.Name, Phone: req.Phone}}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userView(u))
	return nil
}

// changePassword serves POST /v1/me/password: the current password and a
// new one. Every token issued before — access and refresh, on every
// device — is revoked; the answer carries a new pair for this device. A
// wrong current password counts as a failed login.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if req.Current == "" || len(req.Current) > 256 {
		return invalid(problem.FieldError{Field: "current_password", Message: "is required"})
	}
	if len(req.New) < 8 || len(req.New) > 256 {
		return invalid(problem.FieldError{Field: "new_password", Message: "must be 8 to 256 characters"})
	}
	u, err := s.store.GetUser(r.Context(), c.principal.UserID)
	if errors.Is(err, persistence.ErrNotFound) {
		return errorf(problem.Unauthorized, "the token's user no longer exists")
	}
	if err != nil {
		return unavailable(err)
	}
	defer s.accounts.lock(u.Email)()
	if err := s.checkLogin(r.Context(), u.Email, s.clientIP(r)); err != nil {
		return err
	}
	ok, err := s.hasher.check(r.Context(), u.PasswordHash, req.Current)
	if err != nil {
		return err
	}
	if !ok {
		s.loginFailed(r, u.Email)
		return invalid(problem.FieldError{Field: "current_password", Message: "is not your password"})
	}
	if why := password.Weak(req.New, u.Name, u.Email); why != "" {
		e := errorf(problem.WeakPassword, "the new password %s", why)
		e.Fields = []problem.FieldError{{Field: "new_password", Message: why}}
		return e
	}
	hash, err := s.hasher.hash(r.Context(), req.New)
	if err != nil {
		return err
	}
	now := s.now()
	st, err := s.userCommand(r, c, u.ID, "", &pb.UserCommand{AtMs: now.UnixMilli(),
		Body: &pb.UserCommand_ChangePassword{ChangePassword: &pb.ChangePassword{PasswordHash: hash}}})
	if err != nil {
		return err
	}
	if err := s.store.RevokeUserRefreshTokens(r.Context(), u.ID, now); err != nil {
		return unavailable(err)
	}
	s.loginSucceeded(r, u.Email)
	out, err := s.issueTokens(r, u.ID, u.Role, "")
	if err != nil {
		return err
	}
	out.User = userView(st)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// userCommand sends cmd to user id's actor and returns the user after
// it: its command id is the call's plus suffix, By the caller and AtMs
// now unless cmd sets them. A revocation of the user's tokens in the
// answer is this node's to refuse at once (the bus tells the others).
func (s *Server) userCommand(r *http.Request, c *call, id, suffix string, cmd *pb.UserCommand) (*pb.UserState, error) {
	cmd.CommandId = c.commandID + suffix
	if cmd.By == nil {
		cmd.By = &pb.Principal{UserId: c.principal.UserID, Role: c.principal.Role}
	}
	if cmd.AtMs == 0 {
		cmd.AtMs = s.now().UnixMilli()
	}
	reply, err := s.actors.User(r.Context(), id, cmd)
	if err != nil {
		return nil, unavailable(err)
	}
	if rej := reply.GetRejection(); rej != nil {
		return nil, rejected(rej.Code, rej.Message)
	}
	if before := reply.GetUser().GetSessionsRevokedBeforeMs(); s.revoked != nil && before > 0 {
		s.revoked.note(id, time.UnixMilli(before))
	}
	return reply.User, nil
}

// listUsers serves GET /v1/users (admins): every user, by id, filtered by
// role and by a substring of the name or e-mail (q), in pages.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, after, err := paging(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	role, query := q.Get("role"), strings.TrimSpace(q.Get("q"))
	var fe []problem.FieldError
	if role != "" && !slices.Contains([]string{actors.RoleCustomer, actors.RoleDriver, actors.RoleAdmin}, role) {
		fe = append(fe, problem.FieldError{Field: "role", Message: "must be customer, driver or admin"})
	}
	if len(query) > 200 {
		fe = append(fe, problem.FieldError{Field: "q", Message: "must be at most 200 characters"})
	}
	if len(fe) > 0 {
		return invalid(fe...)
	}
	us, more, err := s.store.ListUsers(r.Context(), persistence.UserFilter{Role: role, Query: query, Limit: limit, After: after})
	if err != nil {
		return unavailable(err)
	}
	out := wire.Page[wire.User]{Items: make([]wire.User, 0, len(us))}
	for _, u := range us {
		out.Items = append(out.Items, userRowView(u.UserRow))
	}
	if more && len(us) > 0 {
		cur := encodeCursor(us[len(us)-1].ID)
		out.NextCursor = &cur
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// patchUser serves PATCH /v1/users/:id (admins): a user's name, phone,
// role and whether the account is on. Switching it off refuses the
// user's tokens on every node, closes his sockets and, for a driver,
// makes him unavailable and withdraws the offers he has not accepted
// (orders he accepted stay his: an admin unassigns them). A new role
// revokes his tokens too (their claims carry the role) and closes his
// sockets (changeRole).
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("usr")
	if err != nil {
		return err
	}
	var req struct {
		Name   *string `json:"name"`
		Phone  *string `json:"phone"`
		Role   *string `json:"role"`
		Active *bool   `json:"active"`
	}
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	var fe []problem.FieldError
	if req.Name == nil && req.Phone == nil && req.Active == nil && req.Role == nil {
		fe = append(fe, problem.FieldError{Field: "name", Message: "give name, phone, role or active"})
	}
	if req.Role != nil && !slices.Contains([]string{actors.RoleCustomer, actors.RoleDriver, actors.RoleAdmin}, *req.Role) {
		fe = append(fe, problem.FieldError{Field: "role", Message: "must be customer, driver or admin"})
	}
	if req.Name != nil && (strings.TrimSpace(*req.Name) == "" || len(*req.Name) > user.MaxName) {
		fe = append(fe, problem.FieldError{Field: "name", Message: "must be 1 to 200 characters"})
	}
	if req.Phone != nil && len(*req.Phone) > user.MaxPhone {
		fe = append(fe, problem.FieldError{Field: "phone", Message: "must be at most 32 characters"})
	}
	if req.Active != nil && id == c.principal.UserID {
		fe = append(fe, problem.FieldError{Field: "active", Message: "an admin cannot switch his own account off or on"})
	}
	if len(fe) > 0 {
		return invalid(fe...)
	}
	if req.Name != nil || req.Phone != nil {
		if _, err := s.userCommand(r, c, id, ":profile", &pb.UserCommand{Body: &pb.UserCommand_UpdateProfile{
			UpdateProfile: &pb.UpdateProfile{Name: req.Name, Phone: req.Phone}}}); err != nil {
			return err
		}
	}
	if req.Role != nil {
		if err := s.changeRole(r, c, id, *req.Role); err != nil {
			return err
		}
	}
	if req.Active != nil {
		if _, err := s.userCommand(r, c, id, ":active", &pb.UserCommand{Body: &pb.UserCommand_SetActive{
			SetActive: &pb.SetActive{Active: *req.Active}}}); err != nil {
			return err
		}
	}
	u, err := s.store.GetUser(r.Context(), id)
	if err != nil {
		return unavailable(err)
	}
	if req.Active != nil && !*req.Active && u.Role == actors.RoleDriver {
		reply, err := s.actors.Driver(r.Context(), id, &pb.DriverCommand{CommandId: c.commandID + ":unavailable",
			By: &pb.Principal{UserId: c.principal.UserID, Role: c.principal.Role}, AtMs: s.now().UnixMilli(),
			Body: &pb.DriverCommand_SetAvailability{SetAvailability: &pb.SetAvailability{Available: false}}})
		if err != nil {
			return unavailable(err)
		}
		if rej := reply.GetRejection(); rej != nil {
			return rejected(rej.Code, rej.Message)
		}
		if err := s.withdrawOffers(r, c, id); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, userRowView(u.UserRow))
	return nil
}

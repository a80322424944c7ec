package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/user"
	"github.com/outrider/outrider/internal/password"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

func userView(u *pb.UserState) wire.User {
	j := wire.User{ID: u.Id, Email: u.Email, Name: u.Name, Role: u.Role,
		CreatedAt: wire.Timestamp(time.UnixMilli(u.CreatedAtMs)), Active: !u.Deactivated}
	if u.Phone != "" {
		j.Phone = &u.Phone
	}
	return j
}

func userRowView(u actors.UserRow) wire.User {
	j := wire.User{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, CreatedAt: wire.Timestamp(u.CreatedAt), Active: !u.Inactive}
	if u.Phone != "" {
		j.Phone = &u.Phone
	}
	return j
}

type newUserRequest struct {
	Name     string  `json:"name"`
	Email    string  `json:"email"`
	Password string  `json:"password"`
	Phone    *string `json:"phone"`
	Role     string  `json:"role"`
	Capacity *int    `json:"capacity"`
}

func (req *newUserRequest) validate(withRole bool) error {
	var fe []problem.FieldError
	if n := len(strings.TrimSpace(req.Name)); n == 0 || len(req.Name) > 200 {
		fe = append(fe, problem.FieldError{Field: "name", Message: "is required, at most 200 characters"})
	}
	if len(req.Email) == 0 || len(req.Email) > 254 || !strings.Contains(req.Email, "@") {
		fe = append(fe, problem.FieldError{Field: "email", Message: "must be an e-mail address"})
	}
	if len(req.Password) < 8 || len(req.Password) > 256 {
		fe = append(fe, problem.FieldError{Field: "password", Message: "must be 8 to 256 characters"})
	}
	if req.Phone != nil && len(*req.Phone) > 32 {
		fe = append(fe, problem.FieldError{Field: "phone", Message: "must be at most 32 characters"})
	}
	if withRole {
		if req.Role != actors.RoleDriver && req.Role != actors.RoleAdmin {
			fe = append(fe, problem.FieldError{Field: "role", Message: "must be driver or admin"})
		}
		if req.Capacity != nil && (req.Role != actors.RoleDriver || *req.Capacity < 1 || *req.Capacity > 20) {
			fe = append(fe, problem.FieldError{Field: "capacity", Message: "is for drivers only, 1 to 20"})
		}
	} else if req.Role != "" || req.Capacity != nil {
		fe = append(fe, problem.FieldError{Field: "role", Message: "signup creates customers only"})
	}
	if len(fe) > 0 {
		return invalid(fe...)
	}
	if why := password.Weak(req.Password, req.Name, req.Email); why != "" {
		e := errorf(problem.WeakPassword, "the password %s", why)
		e.Fields = []problem.FieldError{{Field: "password", Message: why}}
		return e
	}
	return nil
}

// createAccount hashes the password and creates the user through a new
// user actor.
func (s *Server) createAccount(r *http.Request, c *call, req newUserRequest, role string, by *pb.Principal) (*pb.UserState, error) {
	hash, err := s.hasher.hash(r.Context(), req.Password)
	if err != nil {
		return nil, err
	}
	id := "usr_" + ulid.Make().String()
	if by == nil {
		by = &pb.Principal{UserId: id, Role: actors.RoleCustomer}
	}
	create := &pb.CreateUser{Email: req.Email, Name: strings.TrimSpace(req.Name), Role: role, PasswordHash: hash}
	if req.Phone != nil {
		create.Phone = *req.Phone
	}
	if req.Capacity != nil {
		create.DriverCapacity = int32(*req.Capacity)
	}
	return s.userCommand(r, c, id, "", &pb.UserCommand{By: by, Body: &pb.UserCommand_Create{Create: create}})
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request, c *call) error {
	var req newUserRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if err := req.validate(false); err != nil {
		return err
	}
	email := user.NormalizeEmail(req.Email)
	unlock := s.accounts.lock(email)
	defer unlock()
	if err := s.checkLogin(r.Context(), email, s.clientIP(r)); err != nil {
		return err
	}
	u, err := s.createAccount(r, c, req, actors.RoleCustomer, nil)
	var taken *Error
	if errors.As(err, &taken) && taken.Code == problem.EmailTaken {
		s.loginFailed(r, email) // testing whether an address has an account
	}
	if err != nil {
		return err
	}
	out, err := s.issueTokens(r, u.Id, u.Role, "")
	if err != nil {
		return err
	}
	out.User = userView(u)
	w.Header().Set("Location", "/v1/me")
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c *call) error {
	var req newUserRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if err := req.validate(true); err != nil {
		return err
	}
	by := &pb.Principal{UserId: c.principal.UserID, Role: c.principal.Role}
	u, err := s.createAccount(r, c, req, req.Role, by)
	if err != nil {
		return err
	}
	if u.Role == actors.RoleDriver {
		w.Header().Set("Location", "/v1/drivers/"+u.Id)
	}
	writeJSON(w, http.StatusCreated, userView(u))
	return nil
}

// issueTokens mints an access token and a refresh token; family "" starts
// a new family.
func (s *Server) issueTokens(r *http.Request, userID, role, family string) (wire.Tokens, error) {
	access, err := s.tokens.issue(Principal{UserID: userID, Role: role})
	if err != nil {
		return wire.Tokens{}, err
	}
	refresh, hash := newRefreshToken()
	if family == "" {
		family = ulid.Make().String()
		now := s.now()
		if err := s.store.CreateRefreshToken(r.Context(), persistence.RefreshToken{
			Hash: hash, UserID: userID, FamilyID: family, ExpiresAt: now.Add(s.cfg.RefreshTTL), CreatedAt: now,
		}); err != nil {
			return wire.Tokens{}, unavailable(err)
		}
	}
	return wire.Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int(s.cfg.AccessTTL.Seconds())}, nil
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, c *call) error {
	var req loginRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" || len(req.Password) > 256 || len(req.Email) > 254 {
		return invalid(problem.FieldError{Field: "email", Message: "email and password are required"})
	}
	email := user.NormalizeEmail(req.Email)
	defer s.accounts.lock(email)()
	if err := s.checkLogin(r.Context(), email, s.clientIP(r)); err != nil {
		return err
	}
	u, err := s.store.GetUserByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		return unavailable(err)
	}
	ok, err := s.hasher.check(r.Context(), u.PasswordHash, req.Password)
	if err != nil {
		return err
	}
	if !ok {
		s.loginFailed(r, email)
		return errorf(problem.Unauthorized, "unknown e-mail or wrong password")
	}
	s.loginSucceeded(r, email)
	if u.Inactive {
		return errorf(problem.Forbidden, "this account is switched off; ask an administrator")
	}
	out, err := s.issueTokens(r, u.ID, u.Role, "")
	if err != nil {
		return err
	}
	out.User = userRowView(u.UserRow)
	writeJSON(w, http.StatusOK, out)
	return nil
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request, c *call) error {
	var req refreshRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if req.RefreshToken == "" || len(req.RefreshToken) > 512 {
		return invalid(problem.FieldError{Field: "refresh_token", Message: "is required"})
	}
	refresh, hash := newRefreshToken()
	now := s.now()
	spent, err := s.store.RotateRefreshToken(r.Context(), hashToken(req.RefreshToken), persistence.RefreshToken{
		Hash: hash, ExpiresAt: now.Add(s.cfg.RefreshTTL), CreatedAt: now,
	}, now)
	switch {
	case errors.Is(err, persistence.ErrTokenReused):
		// Someone holds a copy of the token: the family is revoked, and
		// so are the user's access tokens and sockets, everywhere.
		if spent.UserID != "" {
			if err := s.revokeTokens(r, spent.UserID, actors.RoleSystem, "reuse-"+c.commandID); err != nil {
				return err
			}
		}
		return errorf(problem.Unauthorized, "this refresh token was already used; its session has been revoked")
	case errors.Is(err, persistence.ErrTokenInvalid):
		return errorf(problem.Unauthorized, "the refresh token is not valid")
	case err != nil:
		return unavailable(err)
	}
	u, err := s.store.GetUser(r.Context(), spent.UserID)
	if err != nil {
		return unavailable(err)
	}
	if u.Inactive {
		return errorf(problem.Unauthorized, "this account is switched off")
	}
	access, err := s.tokens.issue(Principal{UserID: u.ID, Role: u.Role})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Tokens{User: userRowView(u.UserRow), AccessToken: access, RefreshToken: refresh,
		TokenType: "Bearer", ExpiresIn: int(s.cfg.AccessTTL.Seconds())})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *call) error {
	var req refreshRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if req.RefreshToken == "" || len(req.RefreshToken) > 512 {
		return invalid(problem.FieldError{Field: "refresh_token", Message: "is required"})
	}
	// Logout ends every session of the user, as it refuses every access
	// token issued before it: each device's refresh token too, or another
	// device (or a thief of its refresh token) would be back a moment
	// later. The refresh token named must still be sent (the API's shape).
	if err := s.store.RevokeUserRefreshTokens(r.Context(), c.principal.UserID, s.now()); err != nil {
		return unavailable(err)
	}
	if err := s.revokeTokens(r, c.principal.UserID, c.principal.Role, c.commandID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeTokens has the user's actor revoke every access token issued
// until now and close the user's sockets; every node's API refuses those
// tokens from then on (revocations.go), this one before it answers.
func (s *Server) revokeTokens(r *http.Request, userID, role, commandID string) error {
	now := s.now()
	reply, err := s.actors.User(r.Context(), userID, &pb.UserCommand{
		CommandId: commandID, By: &pb.Principal{UserId: userID, Role: role},
		AtMs: now.UnixMilli(), Body: &pb.UserCommand_RevokeSessions{RevokeSessions: &pb.RevokeSessions{}},
	})
	if err != nil {
		return unavailable(err)
	}
	if rej := reply.GetRejection(); rej != nil && rej.Code != actors.CodeNotFound {
		return rejected(rej.Code, rej.Message)
	}
	if s.revoked != nil {
		s.revoked.note(userID, time.UnixMilli(reply.GetUser().GetSessionsRevokedBeforeMs()))
	}
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := s.store.GetUser(r.Context(), c.principal.UserID)
	if errors.Is(err, persistence.ErrNotFound) {
		return errorf(problem.Unauthorized, "the token's user no longer exists")
	}
	if err != nil {
		return unavailable(err)
	}
	writeJSON(w, http.StatusOK, userRowView(u.UserRow))
	return nil
}

// unavailable wraps a dependency failure as 503 with Retry-After.
func unavailable(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return newError(problem.Unavailable, "a dependency is unavailable; retry shortly").retryAfter(1).because(err)
}

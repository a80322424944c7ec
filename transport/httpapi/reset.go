package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"sync"
	"time"

	"github.com/outrider/outrider/actors/user"
	"github.com/outrider/outrider/internal/password"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/worker/email"
)

// Password reset by e-mail (README "API in brief", SECURITY.md):
//
//   - POST /v1/auth/password-reset {email} answers 202 with the same body
//     whatever the address, at once: the look-up, the token and the
//     e-mail happen off the request path (resetMailer), so neither the
//     answer nor its timing tells a registered address from another. It
//     is under the login throttle: the auth rate limit per address, and
//     429 while the account's failed logins hold it in a delay.
//   - The token is 32 random bytes (base64url); only its SHA-256 is
//     stored, valid PasswordResetTTL (30 minutes) and spent once. An
//     account gets at most one e-mail per resetInterval; a switched-off
//     or erased account gets none.
//   - POST /v1/auth/password-reset/confirm {token, password}: a password
//     too weak is 422 weak_password and leaves the token live; an
//     unknown, expired or spent token, or one of a switched-off account,
//     is 422 reset_token_invalid. A password change (this one or POST
//     /v1/me/password), a switch-off and a new role spend every token of
//     the account, in the user actor's commit of the change. On
//     success the token and every other of the account are spent, the
//     password changes through the user actor (as POST /v1/me/password:
//     every earlier token of the user, access and refresh, is revoked and
//     his sockets close), his failed logins are forgotten, and the answer
//     is 204: he logs in with the new password.

// DefaultPasswordResetTTL is Config.PasswordResetTTL's default.
const DefaultPasswordResetTTL = 30 * time.Minute

// resetInterval is the least time between two reset e-mails of one
// account: a stranger who knows the address cannot flood its mailbox.
const resetInterval = time.Minute

// resetQueue bounds the reset requests waiting for the mailer; beyond it
// a request is dropped (and logged), still answered 202.
const resetQueue = 1024

// resetAccepted is the one answer of POST /v1/auth/password-reset.
var resetAccepted = map[string]string{
	"status": "accepted",
	"detail": "if the address belongs to an account, a reset link is on its way; it is valid for a limited time and once",
}

// requestPasswordReset serves POST /v1/auth/password-reset.
func (s *Server) requestPasswordReset(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Email string `json:"email"`
	}
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if a, err := mail.ParseAddress(req.Email); err != nil || a.Address != req.Email || len(req.Email) > 254 {
		return invalid(problem.FieldError{Field: "email", Message: "must be an e-mail address"})
	}
	addr := user.NormalizeEmail(req.Email)
	if err := s.checkResetRequest(r.Context(), addr, s.clientIP(r)); err != nil {
		return err
	}
	s.resets.enqueue(addr)
	writeJSON(w, http.StatusAccepted, resetAccepted)
	return nil
}

// confirmPasswordReset serves POST /v1/auth/password-reset/confirm.
func (s *Server) confirmPasswordReset(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if req.Token == "" || len(req.Token) > 128 {
		return invalid(problem.FieldError{Field: "token", Message: "is required"})
	}
	if len(req.Password) < 8 || len(req.Password) > 256 {
		return invalid(problem.FieldError{Field: "password", Message: "must be 8 to 256 characters"})
	}
	ctx, hash, now := r.Context(), hashToken(req.Token), s.now()
	id, err := s.store.PasswordResetUser(ctx, hash, now)
	if errors.Is(err, persistence.ErrResetTokenInvalid) {
		return errorf(problem.ResetTokenInvalid, "the reset token is unknown, expired or already used; ask for a new one")
	}
	if err != nil {
		return unavailable(err)
	}
	u, err := s.store.GetUser(ctx, id)
	if errors.Is(err, persistence.ErrNotFound) || (err == nil && u.Erased) {
		return errorf(problem.ResetTokenInvalid, "the reset token's account no longer exists")
	}
	if err != nil {
		return unavailable(err)
	}
	if u.Inactive {
		return errorf(problem.ResetTokenInvalid, "the reset token's account is switched off")
	}
	if why := password.Weak(req.Password, u.Name, u.Email); why != "" {
		e := errorf(problem.WeakPassword, "the new password %s", why)
		e.Fields = []problem.FieldError{{Field: "password", Message: why}}
		return e
	}
	newHash, err := s.hasher.hash(ctx, req.Password)
	if err != nil {
		return err
	}
	// Spent before the change: of two confirms racing with one token,
	// only one changes the password.
	if _, err := s.store.SpendPasswordReset(ctx, hash, now); errors.Is(err, persistence.ErrResetTokenInvalid) {
		return errorf(problem.ResetTokenInvalid, "the reset token was used meanwhile")
	} else if err != nil {
		return unavailable(err)
	}
	if _, err := s.userCommand(r, c, u.ID, ":reset", &pb.UserCommand{AtMs: now.UnixMilli(),
		By:   &pb.Principal{UserId: u.ID, Role: u.Role},
		Body: &pb.UserCommand_ChangePassword{ChangePassword: &pb.ChangePassword{PasswordHash: newHash}}}); err != nil {
		if e := (*Error)(nil); errors.As(err, &e) && e.Code == problem.Unauthorized {
			// Switched off after the look-up above: the actor refused.
			return errorf(problem.ResetTokenInvalid, "the reset token's account is switched off")
		}
		return err
	}
	if err := s.store.RevokeUserRefreshTokens(ctx, u.ID, now); err != nil {
		return unavailable(err)
	}
	s.loginSucceeded(r, u.Email)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resetMailer does the work of reset requests off the request path, one
// at a time, in order: the look-up, the token and the e-mail.
type resetMailer struct {
	s    *Server
	mail email.Sender
	log  *slog.Logger
	jobs chan string
	stop chan struct{}
	once sync.Once
	done sync.WaitGroup
}

func newResetMailer(s *Server, sender email.Sender) *resetMailer {
	m := &resetMailer{s: s, mail: sender, log: s.log, jobs: make(chan string, resetQueue), stop: make(chan struct{})}
	m.done.Go(m.run)
	return m
}

func (m *resetMailer) enqueue(addr string) {
	select {
	case m.jobs <- addr:
	default:
		m.log.Warn("password reset: queue full, request dropped")
	}
}

func (m *resetMailer) run() {
	for {
		select {
		case <-m.stop:
			return
		case addr := <-m.jobs:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := m.send(ctx, addr); err != nil {
				m.log.Warn("password reset: not sent", "err", err)
			}
			cancel()
		}
	}
}

// close stops the mailer; requests still queued are dropped (the user
// asks again).
func (m *resetMailer) close() {
	m.once.Do(func() { close(m.stop) })
	m.done.Wait()
}

// send makes a token for the account of addr, if there is one that may
// have it, and e-mails it.
func (m *resetMailer) send(ctx context.Context, addr string) error {
	u, err := m.s.store.GetUserByEmail(ctx, addr)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up the account: %w", err)
	}
	if u.Inactive || u.Erased {
		return nil
	}
	if m.mail == nil {
		return errors.New("no e-mail sender is configured (OUTRIDER_SMTP_ADDR or dev mode's log)")
	}
	now := m.s.now()
	token, hash := newRefreshToken()
	created, err := m.s.store.CreatePasswordReset(ctx, persistence.PasswordReset{Hash: hash, UserID: u.ID,
		CreatedAt: now, ExpiresAt: now.Add(m.s.cfg.PasswordResetTTL)}, now.Add(-resetInterval))
	if err != nil {
		return err
	}
	if !created {
		return nil // one was sent less than resetInterval ago
	}
	ttl := m.s.cfg.PasswordResetTTL.Round(time.Minute)
	return m.mail.Send(ctx, email.Message{
		To:      []string{u.Email},
		Subject: "Reset your Outrider password",
		Text: fmt.Sprintf("Someone asked to reset the password of your Outrider account.\r\n\r\n"+
			"If it was you, send this token with your new password to POST /v1/auth/password-reset/confirm "+
			"(your app does it for you) within %s. It works once:\r\n\r\n%s\r\n\r\n"+
			"If it was not you, ignore this e-mail: your password stays as it is.\r\n", ttl, token),
	})
}

package api_test

import (
	"io"
	"mime/quotedprintable"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/worker/email"
	"github.com/outrider/outrider/worker/email/mailtest"
)

// resetNode starts a node whose e-mails land in a mailbox.
func resetNode(t *testing.T, mutate func(*app.Config)) (*app.Node, *e2e.API, *mailtest.Mailbox) {
	box := mailtest.Start(t, mailtest.Options{})
	n, a := e2e.Up(t, func(c *app.Config) {
		c.SMTP = email.Config{Addr: box.Addr, From: "Outrider <accounts@outrider.test>", StartTLS: email.StartTLSNone}
		if mutate != nil {
			mutate(c)
		}
	})
	return n, a, box
}

var resetTokenLine = regexp.MustCompile(`(?m)^([A-Za-z0-9_-]{43})\r?$`)

// resetMails returns the reset tokens e-mailed to addr so far.
func resetMails(t *testing.T, box *mailtest.Mailbox, addr string) []string {
	t.Helper()
	var out []string
	for _, m := range box.Messages() {
		if len(m.To) != 1 || m.To[0] != addr {
			continue
		}
		msg, err := m.Parse()
		require.NoError(t, err)
		require.Equal(t, "Reset your Outrider password", msg.Header.Get("Subject"))
		body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		require.NoError(t, err)
		tok := resetTokenLine.FindSubmatch(body)
		require.NotNil(t, tok, "no token in %s", body)
		out = append(out, string(tok[1]))
	}
	return out
}

// TestPasswordReset (issue #14): the answer is the same for every
// address; a registered one gets a single-use token by e-mail that sets
// a new password, which revokes every earlier token of the account and
// closes its sockets.
func TestPasswordReset(t *testing.T) {
	n, a, box := resetNode(t, nil)
	c := a.Signup(t)
	ws := e2e.Dial(t, "customer", n.Addr(), c.Token, nil)
	stranger := e2e.UniqueEmail("nobody")

	known := a.Anon().Post(t, "/v1/auth/password-reset", map[string]string{"email": c.User.Email})
	unknown := a.Anon().Post(t, "/v1/auth/password-reset", map[string]string{"email": stranger})
	known.RequireStatus(t, http.StatusAccepted)
	unknown.RequireStatus(t, http.StatusAccepted)
	require.Equal(t, string(known.Body), string(unknown.Body), "the answer tells no address from another")
	a.Anon().Post(t, "/v1/auth/password-reset", map[string]string{"email": "not an address"}, e2e.InvalidRequest()).
		Problem(t, http.StatusUnprocessableEntity, "validation_failed")

	var tokens []string
	e2e.Eventually(t, e2e.EventWait, func() bool { tokens = resetMails(t, box, c.User.Email); return len(tokens) == 1 },
		"no reset e-mail came")
	require.Empty(t, resetMails(t, box, stranger), "an unknown address gets nothing")
	// A second request within the minute sends nothing more.
	a.Anon().Post(t, "/v1/auth/password-reset", map[string]string{"email": strings.ToUpper(c.User.Email)}).RequireStatus(t, http.StatusAccepted)
	e2e.Never(t, time.Second, func() bool { return len(resetMails(t, box, c.User.Email)) > 1 }, "a second e-mail within the minute")

	confirm := func(token, pw string) *e2e.Response {
		return a.Anon().Post(t, "/v1/auth/password-reset/confirm", map[string]string{"token": token, "password": pw})
	}
	confirm("not-"+tokens[0], "grape-lantern-42").Problem(t, http.StatusUnprocessableEntity, "reset_token_invalid")
	confirm(tokens[0], "password").Problem(t, http.StatusUnprocessableEntity, "weak_password")
	c.Get(t, "/v1/me").RequireStatus(t, http.StatusOK) // a refused confirm changes nothing

	confirm(tokens[0], "grape-lantern-42").RequireStatus(t, http.StatusNoContent)
	confirm(tokens[0], "another-grape-lantern-43").Problem(t, http.StatusUnprocessableEntity, "reset_token_invalid")
	require.Equal(t, 4001, ws.CloseCode(e2e.EventWait), "his sockets close")
	c.Get(t, "/v1/me").Problem(t, http.StatusUnauthorized, "unauthorized")
	a.Anon().Post(t, "/v1/auth/refresh", map[string]string{"refresh_token": c.Refresh}).Problem(t, http.StatusUnauthorized, "unauthorized")
	a.Anon().Post(t, "/v1/auth/login", map[string]string{"email": c.User.Email, "password": c.Password}).
		Problem(t, http.StatusUnauthorized, "unauthorized")
	a.Login(t, c.User.Email, "grape-lantern-42")

	// A switched-off account gets no e-mail.
	off := a.Signup(t)
	a.Admin.Patch(t, "/v1/users/"+off.ID(), map[string]bool{"active": false}).RequireStatus(t, http.StatusOK)
	a.Anon().Post(t, "/v1/auth/password-reset", map[string]string{"email": off.User.Email}).RequireStatus(t, http.StatusAccepted)
	e2e.Never(t, time.Second, func() bool { return len(resetMails(t, box, off.User.Email)) > 0 }, "a switched-off account got a reset e-mail")

	// Under the login throttle: an account whose failed logins hold it
	// in a delay is 429, known or not.
	for _, addr := range []string{off.User.Email, stranger} {
		for range 6 {
			r := a.Anon().Post(t, "/v1/auth/login", map[string]string{"email": addr, "password": "wrong-password-" + e2e.Unique("x")})
			require.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests}, r.Status)
		}
		a.Anon().Post(t, "/v1/auth/password-reset", map[string]string{"email": addr}).Problem(t, http.StatusTooManyRequests, "rate_limited")
	}
}

// TestPasswordResetExpires: a token past OUTRIDER_PASSWORD_RESET_TTL is
// refused like a spent one.
func TestPasswordResetExpires(t *testing.T) {
	_, a, box := resetNode(t, func(c *app.Config) { c.HTTP.PasswordResetTTL = time.Millisecond })
	c := a.Signup(t)
	a.Anon().Post(t, "/v1/auth/password-reset", map[string]string{"email": c.User.Email}).RequireStatus(t, http.StatusAccepted)
	var tokens []string
	e2e.Eventually(t, e2e.EventWait, func() bool { tokens = resetMails(t, box, c.User.Email); return len(tokens) == 1 },
		"no reset e-mail came")
	a.Anon().Post(t, "/v1/auth/password-reset/confirm", map[string]string{"token": tokens[0], "password": "grape-lantern-42"}).
		Problem(t, http.StatusUnprocessableEntity, "reset_token_invalid")
	a.Login(t, c.User.Email, c.Password) // unchanged
}

package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
)

// TestResetTokenSpentByAccountChanges (issue 14 probe): a reset token
// mailed before a password change (POST /v1/me/password), a switch-off
// or a new role no longer sets a password — the probe's token set the
// password after the owner had changed it, and on a switched-off
// account. Each case is an account of its own: one e-mail a minute per
// account.
func TestResetTokenSpentByAccountChanges(t *testing.T) {
	_, a, box := resetNode(t, nil)
	tokenOf := func(c *e2e.Caller) string {
		a.Anon().Post(t, "/v1/auth/password-reset", map[string]string{"email": c.User.Email}).RequireStatus(t, http.StatusAccepted)
		var tokens []string
		e2e.Eventually(t, e2e.EventWait, func() bool { tokens = resetMails(t, box, c.User.Email); return len(tokens) == 1 },
			"no reset e-mail came")
		return tokens[0]
	}
	confirm := func(token, pw string) *e2e.Response {
		return a.Anon().Post(t, "/v1/auth/password-reset/confirm", map[string]string{"token": token, "password": pw})
	}
	const attacker = "attacker-chosen-4471-walrus"

	t.Run("password change", func(t *testing.T) {
		c := a.Signup(t)
		tok := tokenOf(c)
		c.Post(t, "/v1/me/password", map[string]string{"current_password": c.Password, "new_password": "maroon-pelican-77-tundra"}).
			RequireStatus(t, http.StatusOK)
		confirm(tok, attacker).Problem(t, http.StatusUnprocessableEntity, "reset_token_invalid")
		a.Login(t, c.User.Email, "maroon-pelican-77-tundra")
	})

	t.Run("switch-off", func(t *testing.T) {
		c := a.Signup(t)
		tok := tokenOf(c)
		a.Admin.Patch(t, "/v1/users/"+c.ID(), map[string]bool{"active": false}).RequireStatus(t, http.StatusOK)
		confirm(tok, attacker).Problem(t, http.StatusUnprocessableEntity, "reset_token_invalid")
		a.Admin.Patch(t, "/v1/users/"+c.ID(), map[string]bool{"active": true}).RequireStatus(t, http.StatusOK)
		confirm(tok, attacker).Problem(t, http.StatusUnprocessableEntity, "reset_token_invalid") // spent, not paused
		a.Login(t, c.User.Email, c.Password)
	})

	t.Run("new role", func(t *testing.T) {
		c := a.Signup(t)
		tok := tokenOf(c)
		a.Admin.Patch(t, "/v1/users/"+c.ID(), map[string]string{"role": "admin"}).RequireStatus(t, http.StatusOK)
		confirm(tok, attacker).Problem(t, http.StatusUnprocessableEntity, "reset_token_invalid")
		a.Login(t, c.User.Email, c.Password)
	})

	t.Run("profile change keeps it", func(t *testing.T) {
		c := a.Signup(t)
		tok := tokenOf(c)
		c.Patch(t, "/v1/me", map[string]string{"name": "Still Me"}).RequireStatus(t, http.StatusOK)
		confirm(tok, "grape-lantern-42").RequireStatus(t, http.StatusNoContent)
		a.Login(t, c.User.Email, "grape-lantern-42")
	})
}

// TestResetRefusedOnSwitchedOffAccount: a live token of a switched-off
// account — one a node before this change left behind, written here
// straight into the table — is refused 422 reset_token_invalid, and the
// password stays.
func TestResetRefusedOnSwitchedOffAccount(t *testing.T) {
	var schema string
	_, a := e2e.Up(t, func(cfg *app.Config) { schema = cfg.PGSchema })
	c := a.Signup(t)
	a.Admin.Patch(t, "/v1/users/"+c.ID(), map[string]bool{"active": false}).RequireStatus(t, http.StatusOK)

	const token = "left-behind-token-0123456789abcdefghijklmnopq"
	sum := sha256.Sum256([]byte(token))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.URL())
	require.NoError(t, err, "postgres is required")
	defer func() { _ = conn.Close(context.Background()) }()
	now := time.Now().UTC()
	_, err = conn.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "password_resets"}.Sanitize()+
		" (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)", hex.EncodeToString(sum[:]), c.ID(), now, now.Add(time.Hour))
	require.NoError(t, err)

	a.Anon().Post(t, "/v1/auth/password-reset/confirm", map[string]string{"token": token, "password": "attacker-chosen-4471-walrus"}).
		Problem(t, http.StatusUnprocessableEntity, "reset_token_invalid")
	a.Admin.Patch(t, "/v1/users/"+c.ID(), map[string]bool{"active": true}).RequireStatus(t, http.StatusOK)
	a.Login(t, c.User.Email, c.Password) // the password did not change
}

package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// exportJSON is GET /v1/users/:id/export, as much as the test reads.
type exportJSON struct {
	User            wire.User         `json:"user"`
	Driver          *wire.Driver      `json:"driver"`
	Orders          []wire.Order      `json:"orders"`
	Notifications   []map[string]any  `json:"notifications"`
	LocationHistory []wire.TrackPoint `json:"location_history"`
	Truncated       []string          `json:"truncated"`
}

// TestExport (issue #14): a user exports what is stored about him — his
// account, his orders, his notifications and, for a driver, his record
// and location history; an admin exports anyone; nobody else does.
func TestExport(t *testing.T) {
	n, a := e2e.Up(t, nil)
	customer, other := a.Signup(t), a.Signup(t)
	drv := a.CreateDriver(t, 1, true)
	o := customer.CreateOrder(t)
	a.Admin.Assign(t, o.ID, drv.ID())
	ws := e2e.Dial(t, "driver", n.Addr(), drv.Token, e2e.SkipNotifications)
	ws.Send(map[string]any{"type": "location", "lat": 52.52, "lng": 13.405, "ts": time.Now().UnixMilli()})
	other.CreateOrder(t)

	var mine exportJSON
	r := customer.Get(t, "/v1/users/me/export")
	r.Decode(t, http.StatusOK, &mine)
	require.Contains(t, r.Header.Get("Content-Disposition"), "attachment")
	require.Equal(t, customer.ID(), mine.User.ID)
	require.Nil(t, mine.Driver)
	require.Len(t, mine.Orders, 1, "his order, not another customer's")
	require.Equal(t, o.ID, mine.Orders[0].ID)
	require.Empty(t, mine.LocationHistory)
	require.Empty(t, mine.Truncated)

	var theirs exportJSON
	e2e.Eventually(t, e2e.EventWait, func() bool {
		a.Admin.Get(t, "/v1/users/"+drv.ID()+"/export").Decode(t, http.StatusOK, &theirs)
		return len(theirs.LocationHistory) == 1 && len(theirs.Notifications) > 0
	}, "the driver's export never held his fix and his job notification")
	require.NotNil(t, theirs.Driver)
	require.Equal(t, drv.ID(), theirs.Driver.ID)
	require.Equal(t, []string{o.ID}, []string{theirs.Orders[0].ID})
	require.InDelta(t, 52.52, theirs.LocationHistory[0].Lat, 1e-9)

	other.Get(t, "/v1/users/"+customer.ID()+"/export").Problem(t, http.StatusNotFound, "not_found")
	drv.Get(t, "/v1/users/"+customer.ID()+"/export").Problem(t, http.StatusNotFound, "not_found")
}

// TestExportCredentials (issue #14): an export also holds the metadata
// of the user's refresh tokens, Idempotency-Keys, password resets and
// failed logins — never a token, a hash or a stored answer.
func TestExportCredentials(t *testing.T) {
	_, a, box := resetNode(t, nil)
	c := a.Signup(t)
	a.Login(t, c.User.Email, c.Password) // a second session
	key := e2e.Unique("key")
	c.Post(t, "/v1/orders", e2e.ValidOrder(), e2e.IdempotencyKey(key)).RequireStatus(t, http.StatusCreated)
	a.Anon().Post(t, "/v1/auth/login", map[string]string{"email": c.User.Email, "password": "not-it-" + e2e.Unique("pw")}).
		Problem(t, http.StatusUnauthorized, "unauthorized")
	a.Anon().Post(t, "/v1/auth/password-reset", map[string]string{"email": c.User.Email}).RequireStatus(t, http.StatusAccepted)
	var tokens []string
	e2e.Eventually(t, e2e.EventWait, func() bool { tokens = resetMails(t, box, c.User.Email); return len(tokens) == 1 },
		"no reset e-mail came")

	var x struct {
		RefreshTokens []struct {
			FamilyID  string     `json:"family_id"`
			ExpiresAt time.Time  `json:"expires_at"`
			UsedAt    *time.Time `json:"used_at"`
		} `json:"refresh_tokens"`
		IdempotencyKeys []struct {
			Key    string `json:"key"`
			Status *int   `json:"status"`
		} `json:"idempotency_keys"`
		PasswordResets []struct {
			ExpiresAt time.Time  `json:"expires_at"`
			UsedAt    *time.Time `json:"used_at"`
		} `json:"password_resets"`
		LoginFailures []struct {
			Key      string `json:"key"`
			Failures int    `json:"failures"`
		} `json:"login_failures"`
		Truncated []string `json:"truncated"`
	}
	r := c.Get(t, "/v1/users/me/export")
	r.Decode(t, http.StatusOK, &x)
	require.Len(t, x.RefreshTokens, 2, "signup and login")
	require.NotEqual(t, x.RefreshTokens[0].FamilyID, x.RefreshTokens[1].FamilyID)
	require.Len(t, x.IdempotencyKeys, 1)
	require.Equal(t, key, x.IdempotencyKeys[0].Key)
	require.Equal(t, http.StatusCreated, *x.IdempotencyKeys[0].Status)
	require.Len(t, x.PasswordResets, 1)
	require.Nil(t, x.PasswordResets[0].UsedAt)
	require.NotEmpty(t, x.LoginFailures)
	for _, f := range x.LoginFailures {
		require.Contains(t, f.Key, c.User.Email)
		require.Equal(t, 1, f.Failures)
	}
	require.Empty(t, x.Truncated)
	refreshHash := sha256.Sum256([]byte(c.Refresh))
	for _, secret := range []string{c.Refresh, hex.EncodeToString(refreshHash[:]), tokens[0], c.Token} {
		require.NotContains(t, string(r.Body), secret, "an export holds no secret")
	}
	require.NotContains(t, string(r.Body), `"body"`)
}

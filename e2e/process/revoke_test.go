package process_test

// Issue #14, finding 7: logout (and a reused refresh token) refuses the
// user's earlier access tokens on every node, not only the one that
// served it, and a node that starts afterwards refuses them too.

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/internal/fleet/fleettest"
)

func TestLogoutRefusesTokensOnEveryNode(t *testing.T) {
	f := newFleet(t, "revoke", "", nil)
	a := fleettest.Start(t, f, "a", nil)
	b := fleettest.Start(t, f, "b", nil)
	apiA, apiB := e2e.ConnectNode(t, f, a), e2e.ConnectNode(t, f, b)

	for round := range 3 {
		u := apiA.Signup(t)
		onB := u.On(apiB.Client)
		onB.Get(t, "/v1/me").RequireStatus(t, http.StatusOK)
		u.Post(t, "/v1/auth/logout", map[string]string{"refresh_token": u.Refresh}).RequireStatus(t, http.StatusNoContent)
		u.Get(t, "/v1/me").Problem(t, http.StatusUnauthorized, "unauthorized")
		// The other node hears of it over the bus, within milliseconds.
		start := time.Now()
		e2e.Eventually(t, 2*time.Second, func() bool { return onB.Get(t, "/v1/me").Status == http.StatusUnauthorized },
			"round %d: node b still takes the token", round)
		t.Logf("round %d: node b refused the token %s after the logout answered", round, time.Since(start).Round(time.Millisecond))
	}

	// A node started after the logout loads the recent revocations.
	u := apiA.Signup(t)
	u.Post(t, "/v1/auth/logout", map[string]string{"refresh_token": u.Refresh}).RequireStatus(t, http.StatusNoContent)
	require.NoError(t, b.Restart())
	fleettest.WaitReady(t, b)
	u.On(apiB.Client).Get(t, "/v1/me").Problem(t, http.StatusUnauthorized, "unauthorized")
	again := apiB.Login(t, u.User.Email, u.Password)
	again.Get(t, "/v1/me").RequireStatus(t, http.StatusOK)
}

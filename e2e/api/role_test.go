package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// TestChangeRole (issue #14): PATCH /v1/users/:id {role}. A new role
// refuses the user's earlier tokens and closes his sockets; a driver
// with an offer or an order open keeps his role; the last active admin
// keeps his.
func TestChangeRole(t *testing.T) {
	n, a := e2e.Up(t, nil)
	setRole := func(id, role string) *e2e.Response {
		return a.Admin.Patch(t, "/v1/users/"+id, map[string]string{"role": role})
	}

	// A customer becomes a driver: old tokens go, the new login carries
	// the role, and he has a driver record, unavailable.
	c := a.Signup(t)
	ws := e2e.Dial(t, "customer", n.Addr(), c.Token, nil)
	var u wire.User
	setRole(c.ID(), "driver").Decode(t, http.StatusOK, &u)
	require.Equal(t, "driver", u.Role)
	require.Equal(t, 4001, ws.CloseCode(e2e.EventWait))
	c.Get(t, "/v1/me").Problem(t, http.StatusUnauthorized, "unauthorized")
	drv := a.Login(t, c.User.Email, c.Password)
	require.Equal(t, "driver", drv.User.Role)
	require.False(t, drv.Driver(t, "me").Available)
	drv.SetAvailable(t, true)
	setRole(c.ID(), "driver").Decode(t, http.StatusOK, &u) // the same role: nothing changes
	drv.Get(t, "/v1/me").RequireStatus(t, http.StatusOK)

	// A driver with an open offer, then an accepted order, keeps his role.
	customer := a.Signup(t)
	o := customer.CreateOrder(t)
	a.Admin.Assign(t, o.ID, drv.ID())
	setRole(drv.ID(), "customer").Problem(t, http.StatusConflict, "user_has_active_orders")
	drv.OrderAction(t, o.ID, "accept", nil)
	setRole(drv.ID(), "customer").Problem(t, http.StatusConflict, "user_has_active_orders")
	drv.Get(t, "/v1/me").RequireStatus(t, http.StatusOK)
	for _, st := range e2e.Lifecycle {
		drv.SetStatus(t, o.ID, st)
	}
	setRole(drv.ID(), "customer").Decode(t, http.StatusOK, &u)
	require.Equal(t, "customer", u.Role)
	drv.Get(t, "/v1/me").Problem(t, http.StatusUnauthorized, "unauthorized")
	a.Admin.Get(t, "/v1/drivers/"+drv.ID()).Problem(t, http.StatusNotFound, "not_found") // unlisted
	back := a.Login(t, c.User.Email, c.Password)
	require.Equal(t, "customer", back.User.Role)
	back.Get(t, "/v1/drivers/me").Problem(t, http.StatusForbidden, "forbidden")
	// Driver again: his old record comes back, unavailable.
	setRole(c.ID(), "driver").RequireStatus(t, http.StatusOK)
	again := a.Login(t, c.User.Email, c.Password)
	require.False(t, again.Driver(t, "me").Available)

	// The last active admin cannot leave the role; with another, he can.
	setRole(a.Admin.ID(), "customer").Problem(t, http.StatusConflict, "last_admin")
	a.Admin.Get(t, "/v1/me").RequireStatus(t, http.StatusOK)
	other := a.CreateUser(t, "admin")
	a.Admin.Patch(t, "/v1/users/"+other.ID(), map[string]bool{"active": false}).RequireStatus(t, http.StatusOK)
	setRole(a.Admin.ID(), "customer").Problem(t, http.StatusConflict, "last_admin") // a switched-off admin does not count
	a.Admin.Patch(t, "/v1/users/"+other.ID(), map[string]bool{"active": true}).RequireStatus(t, http.StatusOK)
	setRole(a.Admin.ID(), "customer").Decode(t, http.StatusOK, &u)
	require.Equal(t, "customer", u.Role)
	a.Admin.Get(t, "/v1/users").Problem(t, http.StatusUnauthorized, "unauthorized") // his admin token is gone

	admin2 := a.Login(t, other.User.Email, other.Password)
	admin2.Patch(t, "/v1/users/"+c.ID(), map[string]string{"role": "superuser"}, e2e.InvalidRequest()).
		Problem(t, http.StatusUnprocessableEntity, "validation_failed")
	admin2.Patch(t, "/v1/users/"+e2e.NonexistentID("usr"), map[string]string{"role": "admin"}).Problem(t, http.StatusNotFound, "not_found")
}

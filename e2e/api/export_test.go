package api_test

import (
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

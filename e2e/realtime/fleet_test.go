package realtime_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// driverFrame is a {"type":"driver","channel":"fleet"} frame.
type driverFrame struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	wire.DriverState
}

// nextDriver reads until a driver frame of driverID arrives; location
// frames and other drivers' frames before it are passed over.
func nextDriver(t *testing.T, c *e2e.WS, driverID string, timeout time.Duration) driverFrame {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f := c.Must(time.Until(deadline))
		if f.Type != "driver" {
			require.Equal(t, "location", f.Type, "%s", f.Raw)
			continue
		}
		var d driverFrame
		require.NoError(t, json.Unmarshal(f.Raw, &d), "%s", f.Raw)
		require.Equal(t, "fleet", d.Channel, "%s", f.Raw)
		if d.DriverID == driverID {
			return d
		}
	}
}

func TestFleetChannel(t *testing.T) {
	n, a := e2e.Up(t, func(cfg *app.Config) {
		cfg.WS.LocationRate = 1000 // this test is about the fleet's coalescing, not the session's throttle
		cfg.Locations.FlushInterval = 50 * time.Millisecond
	})
	busy := a.CreateDriver(t, 2, true)
	idle := a.CreateDriver(t, 1, false)

	// Only admins watch the fleet, and it starts with a snapshot, not from
	// a seq.
	cust := e2e.Dial(t, "customer", n.Addr(), a.Signup(t).Token, nil)
	f := cust.Ask(map[string]any{"type": "subscribe", "channel": "fleet"})
	require.Equal(t, "error", f.Type, "%s", f.Raw)
	require.Equal(t, "forbidden", f.Code)
	dc := e2e.Dial(t, "driver", n.Addr(), busy.Token, nil)
	f = dc.Ask(map[string]any{"type": "subscribe", "channel": "fleet"})
	require.Equal(t, "forbidden", f.Code, "%s", f.Raw)
	other := e2e.Dial(t, "admin-since", n.Addr(), a.Admin.Token, nil)
	f = other.Ask(map[string]any{"type": "subscribe", "channel": "fleet", "since": 3})
	require.Equal(t, "validation_failed", f.Code, "%s", f.Raw)

	// The ack, then one frame per driver.
	admin := e2e.Dial(t, "admin", n.Addr(), a.Admin.Token, nil)
	admin.Subscribe("fleet", nil)
	seen := map[string]wire.DriverState{}
	deadline := time.Now().Add(e2e.EventWait)
	for len(seen) < 2 {
		f := admin.Must(time.Until(deadline))
		require.Equal(t, "driver", f.Type, "%s", f.Raw)
		var d driverFrame
		require.NoError(t, json.Unmarshal(f.Raw, &d), "%s", f.Raw)
		if d.DriverID == busy.ID() || d.DriverID == idle.ID() {
			seen[d.DriverID] = d.DriverState
		}
	}
	require.Equal(t, wire.DriverState{DriverID: busy.ID(), Status: "available", Available: true, Capacity: 2}, seen[busy.ID()])
	require.Equal(t, wire.DriverState{DriverID: idle.ID(), Status: "offline", Capacity: 1}, seen[idle.ID()])
	// Ten fixes within a second reach the fleet as at most two frames,
	// the last with the newest position.
	start := time.Now()
	var lat float64
	for i := range 10 {
		lat = 52.52 + float64(i)*1e-5 // about a metre per 100 ms
		dc.Send(fixFrame(lat, 13.405, start.Add(time.Duration(i)*100*time.Millisecond)))
		<-time.After(90 * time.Millisecond)
	}
	var got []e2e.Location
	deadline = time.Now().Add(5 * time.Second)
	for len(got) == 0 || got[len(got)-1].Lat != lat {
		f := admin.Must(time.Until(deadline))
		if f.Type == "location" && f.Channel == "fleet" {
			l := f.Location(t)
			require.Equal(t, busy.ID(), l.DriverID)
			got = append(got, l)
		}
	}
	for _, f := range admin.Collect(1500 * time.Millisecond) {
		require.NotEqual(t, "location", f.Type, "no fix is left: %s", f.Raw)
	}
	t.Logf("10 fixes, %d fleet location frames", len(got))
	require.LessOrEqual(t, len(got), 2, "%v", got)
	require.NotNil(t, got[len(got)-1].Speed)

	// An availability change arrives as the driver's row.
	idle.SetAvailable(t, true)
	d := nextDriver(t, admin, idle.ID(), e2e.EventWait)
	require.Equal(t, "available", d.Status)
	require.True(t, d.Available)
	require.Equal(t, 1, d.Capacity)

	// So does a change of the orders he holds: an offer makes him busy,
	// its decline available again.
	customer := a.Signup(t)
	o := customer.CreateOrder(t)
	a.Admin.Assign(t, o.ID, idle.ID())
	d = nextDriver(t, admin, idle.ID(), e2e.EventWait)
	require.Equal(t, "busy", d.Status)
	require.Equal(t, 1, d.ActiveOrders)
	idle.Post(t, "/v1/orders/"+o.ID+"/decline", map[string]string{}).RequireStatus(t, http.StatusOK)
	d = nextDriver(t, admin, idle.ID(), e2e.EventWait)
	require.Equal(t, "available", d.Status)
	require.Zero(t, d.ActiveOrders)

	// Unsubscribing ends the feed.
	admin.Send(map[string]any{"type": "unsubscribe", "channel": "fleet", "id": "u1"})
	for f = admin.Must(e2e.EventWait); f.Type != "ack"; f = admin.Must(e2e.EventWait) {
	}
	require.Equal(t, "u1", f.ID)
	idle.SetAvailable(t, false)
	for _, f := range admin.Collect(time.Second) {
		require.NotEqual(t, "driver", f.Type, "%s", f.Raw)
	}
}

package realtime_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

func fixFrame(lat, lng float64, at time.Time) map[string]any {
	return map[string]any{"type": "location", "lat": lat, "lng": lng, "speed": 8.5, "ts": at.UnixMilli()}
}

// track is the answer of GET /v1/orders/{id}/track.
type track struct {
	OrderID  string            `json:"order_id"`
	DriverID *string           `json:"driver_id"`
	Items    []wire.TrackPoint `json:"items"`
}

func TestDriverPositionsReachOrderWatchersAndTheTrail(t *testing.T) {
	n, a := e2e.Up(t, func(cfg *app.Config) {
		cfg.WS.LocationRate = 1000 // this test is about fan-out, not throttling
		cfg.Locations.FlushInterval = 50 * time.Millisecond
		cfg.Locations.LastEvery = 100 * time.Millisecond
	})
	cust := a.Signup(t)
	drv := a.CreateDriver(t, 0, true)
	id := cust.CreateOrder(t).ID
	a.Admin.Assign(t, id, drv.ID())

	watcher := e2e.Dial(t, "customer", n.Addr(), cust.Token, nil)
	watcher.Subscribe("order:"+id, nil)
	dc := e2e.Dial(t, "driver", n.Addr(), drv.Token, nil)

	// Device times after the assignment (the trail starts there), 50 ms
	// apart: about 10 m per 50 ms is plausible for a vehicle.
	start := time.Now()
	lats := []float64{52.52000, 52.52001, 52.52003, 52.52006}
	for i, lat := range lats {
		dc.Send(fixFrame(lat, 13.405, start.Add(time.Duration(i)*50*time.Millisecond)))
	}
	// A GPS jump (to Paris within 50 ms) is filtered by the driver actor.
	dc.Send(fixFrame(48.8566, 2.3522, start.Add(200*time.Millisecond)))
	for _, lat := range lats {
		f := watcher.NextLocation(5 * time.Second)
		require.Equal(t, "order:"+id, f.Channel)
		require.Equal(t, drv.ID(), f.DriverID)
		require.Equal(t, lat, f.Lat)
	}

	// The trail is written in batches and read back in order.
	var tr track
	eventually(t, 5*time.Second, func() bool {
		cust.Get(t, "/v1/orders/"+id+"/track").Decode(t, http.StatusOK, &tr)
		return len(tr.Items) == len(lats)
	})
	require.NotNil(t, tr.DriverID)
	require.Equal(t, drv.ID(), *tr.DriverID)
	for i, it := range tr.Items {
		require.Equal(t, lats[i], it.Lat)
	}
	// The driver's last location is on the driver read model (moved at
	// most every LastEvery, to the newest fix).
	eventually(t, 5*time.Second, func() bool {
		last := a.Admin.Driver(t, drv.ID()).LastLocation
		return last != nil && last.Lat == lats[len(lats)-1]
	})

	// Another customer may not see the trail.
	a.Signup(t).Get(t, "/v1/orders/"+id+"/track").RequireStatus(t, http.StatusNotFound)
}

// A driver's last known position (his drivers row) moves at most every
// Locations.LastEvery — every fix still goes to the history at once — and
// the newest fix is not lost when he falls silent: it moves there once
// due.
func TestLastPositionMovesAtMostEveryLastEvery(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every time.Duration
		// want: the last position once the history holds all three fixes
		// (held: the first fix moved it, the others are not due).
		held bool
	}{
		{"not due: the history moves, the position is held", time.Hour, true},
		{"due soon: the newest fix gets there with no further fix", 300 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, a := e2e.Up(t, func(cfg *app.Config) {
				cfg.WS.LocationRate = 1000
				cfg.Locations.FlushInterval = 50 * time.Millisecond
				cfg.Locations.LastEvery = tc.every
			})
			drv := a.CreateDriver(t, 0, true)
			dc := e2e.Dial(t, "driver", n.Addr(), drv.Token, nil)
			lastLat := func() float64 {
				if l := a.Admin.Driver(t, drv.ID()).LastLocation; l != nil {
					return l.Lat
				}
				return 0
			}
			start := time.Now()
			dc.Send(fixFrame(52.52000, 13.405, start))
			eventually(t, 5*time.Second, func() bool { return lastLat() == 52.52000 }, "a driver's first fix moves his position at once")
			dc.Send(fixFrame(52.52001, 13.405, start.Add(50*time.Millisecond)))
			dc.Send(fixFrame(52.52003, 13.405, start.Add(100*time.Millisecond)))
			eventually(t, 5*time.Second, func() bool {
				trail, err := n.Store().Trail(t.Context(), drv.ID(), start.Add(-time.Second), start.Add(time.Minute), 10)
				require.NoError(t, err)
				return len(trail) == 3
			}, "every fix reaches the history")
			if tc.held {
				require.Equal(t, 52.52000, lastLat(), "the position does not move before LastEvery")
				return
			}
			eventually(t, 5*time.Second, func() bool { return lastLat() == 52.52003 }, "the newest fix moves the position once due")
		})
	}
}

func TestBadLocationFramesAreAnsweredAndTheConnectionStays(t *testing.T) {
	n, a := e2e.Up(t, nil)
	drv := a.CreateDriver(t, 0, true)
	dc := e2e.Dial(t, "driver", n.Addr(), drv.Token, nil)
	now := time.Now()
	for _, tc := range []struct {
		name, raw, code string
	}{
		{"NaN literal", `{"type":"location","lat":NaN,"lng":1,"ts":1}`, "malformed_json"},
		{"NaN as string", `{"type":"location","lat":"NaN","lng":1,"ts":1}`, "validation_failed"},
		{"lat out of range", fmt.Sprintf(`{"type":"location","id":"l1","lat":91,"lng":1,"ts":%d}`, now.UnixMilli()), "validation_failed"},
		{"no lng", fmt.Sprintf(`{"type":"location","lat":1,"ts":%d}`, now.UnixMilli()), "validation_failed"},
		{"future ts", fmt.Sprintf(`{"type":"location","lat":1,"lng":1,"ts":%d}`, now.Add(time.Hour).UnixMilli()), "validation_failed"},
		{"ancient ts", `{"type":"location","lat":1,"lng":1,"ts":"2001-01-01T00:00:00Z"}`, "validation_failed"},
		{"bad ts", `{"type":"location","lat":1,"lng":1,"ts":"yesterday"}`, "validation_failed"},
		{"negative speed", fmt.Sprintf(`{"type":"location","lat":1,"lng":1,"speed":-3,"ts":%d}`, now.UnixMilli()), "validation_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, dc.Conn.WriteMessage(websocket.TextMessage, []byte(tc.raw)))
			f := dc.Must(5 * time.Second)
			require.Equal(t, "error", f.Type, "%s", f.Raw)
			require.Equal(t, tc.code, f.Code, "%s", f.Raw)
		})
	}
	// A valid fix with an id is acknowledged.
	dc.Send(map[string]any{"type": "location", "id": "ok1", "lat": 52.5, "lng": 13.4, "ts": time.Now().UnixMilli()})
	f := dc.Must(5 * time.Second)
	require.Equal(t, "ack", f.Type, "%s", f.Raw)

	// Customers do not send positions.
	cc := e2e.Dial(t, "customer", n.Addr(), a.Signup(t).Token, nil)
	cc.Send(fixFrame(52.5, 13.4, time.Now()))
	f = cc.Must(5 * time.Second)
	require.Equal(t, "forbidden", f.Code)
}

func TestLocationFramesAreThrottled(t *testing.T) {
	n, a := e2e.Up(t, func(cfg *app.Config) { cfg.WS.LocationRate = 2 })
	cust := a.Signup(t)
	drv := a.CreateDriver(t, 0, true)
	id := cust.CreateOrder(t).ID
	a.Admin.Assign(t, id, drv.ID())
	watcher := e2e.Dial(t, "customer", n.Addr(), cust.Token, nil)
	watcher.Subscribe("order:"+id, nil)
	dc := e2e.Dial(t, "driver", n.Addr(), drv.Token, nil)
	start := time.Now().Add(-time.Second)
	for i := range 20 {
		dc.Send(fixFrame(52.5+float64(i)*1e-5, 13.4, start.Add(time.Duration(i)*10*time.Millisecond)))
	}
	first := watcher.NextLocation(5 * time.Second)
	require.Equal(t, 52.5, first.Lat, "the first fix passes")
	// At 2 per second (burst 2), 20 fixes sent at once yield two, and
	// perhaps a third after 500 ms — never all of them.
	got := 1
	for _, f := range watcher.Collect(time.Second) {
		if f.Type == "location" {
			got++
		}
	}
	require.LessOrEqual(t, got, 3)
}

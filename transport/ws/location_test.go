package ws_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
)

type locFrame struct {
	Type     string  `json:"type"`
	Channel  string  `json:"channel"`
	DriverID string  `json:"driver_id"`
	Lat      float64 `json:"lat"`
	Lng      float64 `json:"lng"`
	Ts       string  `json:"ts"`
	Code     string  `json:"code"`
}

func (c *client) nextLocation(timeout time.Duration) locFrame {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		_, data, err := c.conn.ReadMessage()
		require.NoError(c.t, err)
		var f locFrame
		require.NoError(c.t, json.Unmarshal(data, &f))
		if f.Type == "location" {
			return f
		}
	}
}

func fixFrame(lat, lng float64, at time.Time) map[string]any {
	return map[string]any{"type": "location", "lat": lat, "lng": lng, "speed": 8.5, "ts": at.UnixMilli()}
}

func TestDriverPositionsReachOrderWatchersAndTheTrail(t *testing.T) {
	n := e2e.Start(t, func(cfg *app.Config) {
		cfg.WS.LocationRate = 1000 // this test is about fan-out, not throttling
		cfg.Locations.FlushInterval = 50 * time.Millisecond
	})
	a := newAPI(t, n)
	admin, cust := a.admin(), a.customer()
	drv := a.driver(admin)
	id := a.order(cust)
	a.do("POST", "/v1/orders/"+id+"/assign", admin.token, map[string]any{"driver_id": drv.id}, 200)

	watcher := dial(t, n, cust.token)
	watcher.subscribe("order:"+id, nil)
	dc := dial(t, n, drv.token)

	// Device times after the assignment (the trail starts there), 50 ms
	// apart: about 10 m per 50 ms is plausible for a vehicle.
	start := time.Now()
	lats := []float64{52.52000, 52.52001, 52.52003, 52.52006}
	for i, lat := range lats {
		dc.send(fixFrame(lat, 13.405, start.Add(time.Duration(i)*50*time.Millisecond)))
	}
	// A GPS jump (to Paris within 50 ms) is filtered by the driver actor.
	dc.send(fixFrame(48.8566, 2.3522, start.Add(200*time.Millisecond)))
	for _, lat := range lats {
		f := watcher.nextLocation(5 * time.Second)
		require.Equal(t, "order:"+id, f.Channel)
		require.Equal(t, drv.id, f.DriverID)
		require.Equal(t, lat, f.Lat)
	}

	// The trail is written in batches and read back in order.
	var track map[string]any
	eventually(t, 5*time.Second, func() bool {
		track = a.do("GET", "/v1/orders/"+id+"/track", cust.token, nil, 200)
		return len(track["items"].([]any)) == len(lats)
	})
	require.Equal(t, drv.id, track["driver_id"])
	for i, it := range track["items"].([]any) {
		require.Equal(t, lats[i], it.(map[string]any)["lat"])
	}
	// The driver's last location is on the driver read model (written in
	// the same flush, right after the trail).
	eventually(t, 5*time.Second, func() bool {
		d := a.do("GET", "/v1/drivers/"+drv.id, admin.token, nil, 200)
		last, ok := d["last_location"].(map[string]any)
		return ok && last["lat"] == lats[len(lats)-1]
	})

	// Another customer may not see the trail.
	a.do("GET", "/v1/orders/"+id+"/track", a.customer().token, nil, 404)
}

func TestBadLocationFramesAreAnsweredAndTheConnectionStays(t *testing.T) {
	n := e2e.Start(t, nil)
	a := newAPI(t, n)
	admin := a.admin()
	drv := a.driver(admin)
	dc := dial(t, n, drv.token)
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
			require.NoError(t, dc.conn.WriteMessage(websocket.TextMessage, []byte(tc.raw)))
			f := dc.next(5 * time.Second)
			require.Equal(t, "error", f.Type, "%+v", f)
			require.Equal(t, tc.code, f.Code, "%+v", f)
		})
	}
	// A valid fix with an id is acknowledged.
	dc.send(map[string]any{"type": "location", "id": "ok1", "lat": 52.5, "lng": 13.4, "ts": time.Now().UnixMilli()})
	f := dc.next(5 * time.Second)
	require.Equal(t, "ack", f.Type, "%+v", f)

	// Customers do not send positions.
	cc := dial(t, n, a.customer().token)
	cc.send(fixFrame(52.5, 13.4, time.Now()))
	f = cc.next(5 * time.Second)
	require.Equal(t, "forbidden", f.Code)
}

func TestLocationFramesAreThrottled(t *testing.T) {
	n := e2e.Start(t, func(cfg *app.Config) { cfg.WS.LocationRate = 2 })
	a := newAPI(t, n)
	admin, cust := a.admin(), a.customer()
	drv := a.driver(admin)
	id := a.order(cust)
	a.do("POST", "/v1/orders/"+id+"/assign", admin.token, map[string]any{"driver_id": drv.id}, 200)
	watcher := dial(t, n, cust.token)
	watcher.subscribe("order:"+id, nil)
	dc := dial(t, n, drv.token)
	start := time.Now().Add(-time.Second)
	for i := range 20 {
		dc.send(fixFrame(52.5+float64(i)*1e-5, 13.4, start.Add(time.Duration(i)*10*time.Millisecond)))
	}
	first := watcher.nextLocation(5 * time.Second)
	require.Equal(t, 52.5, first.Lat, "the first fix passes")
	// At 2 per second (burst 2), 20 fixes sent at once yield two, and
	// perhaps a third after 500 ms — never all of them.
	got := 1
	_ = watcher.conn.SetReadDeadline(time.Now().Add(time.Second))
	for {
		_, data, err := watcher.conn.ReadMessage()
		if err != nil {
			break
		}
		var f locFrame
		_ = json.Unmarshal(data, &f)
		if f.Type == "location" {
			got++
		}
	}
	require.LessOrEqual(t, got, 3)
}

func eventually(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, d, 20*time.Millisecond)
}

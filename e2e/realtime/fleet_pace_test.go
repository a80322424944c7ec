package realtime_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
)

// TestFleetTicksArePacedToTheSendQueue: the fleet's snapshot and a tick
// in which many drivers moved are many frames at once; they go out as a
// watcher that reads takes them, never past its send queue (here 8
// frames, with 30 drivers), so he is not cut off as a slow consumer.
func TestFleetTicksArePacedToTheSendQueue(t *testing.T) {
	const drivers = 30
	n, a := e2e.Up(t, func(cfg *app.Config) {
		cfg.WS.SendQueueSize = 8
		cfg.WS.LocationRate = 1000
		cfg.Locations.FlushInterval = 50 * time.Millisecond
	})
	var sockets []*e2e.WS
	ids := map[string]bool{}
	for range drivers {
		d := a.CreateDriver(t, 1, true)
		ids[d.ID()] = true
		sockets = append(sockets, e2e.Dial(t, "driver", n.Addr(), d.Token, nil))
	}
	admin := e2e.Dial(t, "admin", n.Addr(), a.Admin.Token, nil)
	admin.Subscribe("fleet", nil)
	now := time.Now()
	for i, s := range sockets {
		s.Send(map[string]any{"type": "location", "lat": 52.5 + float64(i)*1e-3, "lng": 13.4, "ts": now.UnixMilli()})
	}
	snapshot, moved := map[string]bool{}, map[string]bool{}
	deadline := time.Now().Add(e2e.EventWait)
	for len(snapshot) < drivers || len(moved) < drivers {
		f, ok := admin.Next(time.Until(deadline))
		require.True(t, ok, "snapshot %d of %d, positions %d of %d; cut off? %v", len(snapshot), drivers, len(moved), drivers, admin.Err())
		var d struct {
			DriverID string `json:"driver_id"`
		}
		require.NoError(t, json.Unmarshal(f.Raw, &d))
		require.True(t, ids[d.DriverID], "%s", f.Raw)
		switch f.Type {
		case "driver":
			snapshot[d.DriverID] = true
		case "location":
			moved[d.DriverID] = true
		default:
			require.FailNow(t, "unexpected frame", "%s", f.Raw)
		}
	}
	admin.Send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", admin.Must(e2e.EventWait).Type, "the watcher is still connected")
}

package realtime_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
)

// cellsFrame is a {"type":"cells","channel":"fleet"} frame.
type cellsFrame struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	Zoom    int    `json:"zoom"`
	Cells   []struct {
		X, Y     int
		Count    int
		Lat, Lng float64
	} `json:"cells"`
	At string `json:"at"`
}

// fleetView is what a viewport watcher of the fleet was sent: per driver,
// the kinds of frames about him in order, and the last cells frame.
type fleetView struct {
	t      *testing.T
	c      *e2e.WS
	frames map[string][]string // driver → "driver" / "location" frames about him
	cells  *cellsFrame
}

var askSeq atomic.Int64

// ask sends m with a fresh id and reads until its ack or error, keeping
// the fleet frames that arrive meanwhile.
func (v *fleetView) ask(m map[string]any) e2e.Frame {
	v.t.Helper()
	id := "v-" + strconv.FormatInt(askSeq.Add(1), 10)
	m["id"] = id
	v.c.Send(m)
	deadline := time.Now().Add(e2e.EventWait)
	for {
		f := v.c.Must(time.Until(deadline))
		if (f.Type == "ack" || f.Type == "error") && f.ID == id {
			return f
		}
		v.keep(f)
	}
}

// keep records a fleet frame; any other frame fails the test.
func (v *fleetView) keep(f e2e.Frame) {
	v.t.Helper()
	switch f.Type {
	case "driver", "location":
		require.Equal(v.t, "fleet", f.Channel, "%s", f.Raw)
		var d struct {
			DriverID string `json:"driver_id"`
		}
		require.NoError(v.t, json.Unmarshal(f.Raw, &d))
		v.frames[d.DriverID] = append(v.frames[d.DriverID], f.Type)
	case "cells":
		var c cellsFrame
		require.NoError(v.t, json.Unmarshal(f.Raw, &c), "%s", f.Raw)
		require.Equal(v.t, "fleet", c.Channel)
		v.cells = &c
	default:
		require.FailNow(v.t, "unexpected frame", "%s", f.Raw)
	}
}

// until reads frames until cond holds, failing after timeout.
func (v *fleetView) until(what string, timeout time.Duration, cond func() bool) {
	v.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		f, ok := v.c.Next(time.Until(deadline))
		require.True(v.t, ok, "waiting for %s; got %v, cells %+v", what, v.frames, v.cells)
		v.keep(f)
	}
}

// count is the cells frame's count at tile (x, y), 0 if absent.
func (v *fleetView) count(x, y int) int {
	if v.cells == nil {
		return 0
	}
	for _, c := range v.cells.Cells {
		if c.X == x && c.Y == y {
			return c.Count
		}
	}
	return 0
}

// TestFleetViewport: a fleet watcher that names a viewport gets the
// drivers inside it (a `driver` frame when one enters, then positions),
// nothing of the drivers elsewhere but their counts per cell, and the
// drivers of a new viewport when the map moves.
func TestFleetViewport(t *testing.T) {
	n, a := e2e.Up(t, func(cfg *app.Config) {
		cfg.WS.LocationRate = 1000
		cfg.Locations.FlushInterval = 50 * time.Millisecond
	})
	inside, mover, hamburg := a.CreateDriver(t, 1, true), a.CreateDriver(t, 1, true), a.CreateDriver(t, 1, true)
	berlinBox := map[string]any{"south": 52.3, "west": 13.0, "north": 52.7, "east": 13.8}
	hamburgBox := map[string]any{"south": 53.4, "west": 9.7, "north": 53.7, "east": 10.3}

	admin := &fleetView{t: t, c: e2e.Dial(t, "admin", n.Addr(), a.Admin.Token, nil), frames: map[string][]string{}}
	for name, tc := range map[string]struct {
		frame map[string]any
		code  string
	}{
		"viewport before subscribing":  {map[string]any{"type": "viewport", "channel": "fleet", "viewport": berlinBox}, "validation_failed"},
		"viewport of an order channel": {map[string]any{"type": "subscribe", "channel": "order:ord_x", "viewport": berlinBox}, "validation_failed"},
		"south above north": {map[string]any{"type": "subscribe", "channel": "fleet",
			"viewport": map[string]any{"south": 53, "west": 13, "north": 52, "east": 14}}, "validation_failed"},
		"latitude out of range": {map[string]any{"type": "subscribe", "channel": "fleet",
			"viewport": map[string]any{"south": -91, "west": 13, "north": 52, "east": 14}}, "validation_failed"},
		"zoom out of range": {map[string]any{"type": "subscribe", "channel": "fleet",
			"viewport": map[string]any{"south": 52, "west": 13, "north": 53, "east": 14, "zoom": 17}}, "validation_failed"},
		"unknown viewport field": {map[string]any{"type": "subscribe", "channel": "fleet",
			"viewport": map[string]any{"south": 52, "west": 13, "north": 53, "east": 14, "bbox": 1}}, "validation_failed"},
	} {
		f := admin.ask(tc.frame)
		require.Equal(t, "error", f.Type, "%s: %s", name, f.Raw)
		require.Equal(t, tc.code, f.Code, "%s: %s", name, f.Raw)
	}

	f := admin.ask(map[string]any{"type": "subscribe", "channel": "fleet", "viewport": berlinBox})
	require.Equal(t, "ack", f.Type, "%s", f.Raw)

	now := time.Now()
	sockets := map[string]*e2e.WS{}
	for name, d := range map[string]*e2e.Caller{"inside": inside, "mover": mover, "hamburg": hamburg} {
		sockets[name] = e2e.Dial(t, name, n.Addr(), d.Token, nil)
	}
	sockets["inside"].Send(fixFrame(52.52, 13.405, now))
	sockets["hamburg"].Send(fixFrame(53.55, 9.99, now))
	// Just east of the box, 110 s before now: it enters the box below
	// at a plausible speed.
	sockets["mover"].Send(fixFrame(52.52, 13.85, now.Add(-110*time.Second)))

	// The driver inside arrives with his state; the other two are counted
	// per cell: the box is 0.8° wide, so its cells are at zoom 5, where
	// Berlin and the mover are in tile (17, 10) and Hamburg in (16, 10).
	admin.until("the driver inside and the counts", e2e.EventWait, func() bool {
		return len(admin.frames[inside.ID()]) > 0 && admin.count(16, 10) == 1 && admin.count(17, 10) == 2
	})
	// (His state comes with his entering position, or — if the node was
	// still reading the fleet in — right after it.)
	admin.until("the state of the driver inside", e2e.EventWait, func() bool {
		return slices.Contains(admin.frames[inside.ID()], "driver")
	})
	require.Equal(t, 5, admin.cells.Zoom)
	require.Empty(t, admin.frames[hamburg.ID()], "a driver outside is only counted")
	require.Empty(t, admin.frames[mover.ID()], "a driver outside is only counted")

	// The mover enters: his state, then positions; the one inside moves:
	// a position.
	sockets["mover"].Send(fixFrame(52.52, 13.79, now))
	sockets["inside"].Send(fixFrame(52.5201, 13.405, now.Add(time.Second)))
	sockets["hamburg"].Send(fixFrame(53.5501, 9.99, now.Add(time.Second)))
	seenInside := len(admin.frames[inside.ID()])
	admin.until("the mover and the move inside", e2e.EventWait, func() bool {
		return len(admin.frames[mover.ID()]) > 0 && len(admin.frames[inside.ID()]) > seenInside
	})
	require.Equal(t, []string{"driver"}, admin.frames[mover.ID()])
	require.Equal(t, "location", admin.frames[inside.ID()][len(admin.frames[inside.ID()])-1])
	for _, f := range admin.c.Collect(1500 * time.Millisecond) {
		admin.keep(f)
	}
	require.Empty(t, admin.frames[hamburg.ID()], "a driver moving outside is not sent")

	// The map moves to Hamburg: his state arrives, and the counts follow
	// the new viewport (Berlin's tile now outside, Hamburg's partly in).
	seenInside = len(admin.frames[inside.ID()])
	f = admin.ask(map[string]any{"type": "viewport", "channel": "fleet", "viewport": hamburgBox})
	require.Equal(t, "ack", f.Type, "%s", f.Raw)
	admin.until("the driver in Hamburg", e2e.EventWait, func() bool { return len(admin.frames[hamburg.ID()]) > 0 })
	require.Equal(t, "driver", admin.frames[hamburg.ID()][0])
	sockets["inside"].Send(fixFrame(52.5202, 13.405, now.Add(2*time.Second)))
	sockets["hamburg"].Send(fixFrame(53.5502, 9.99, now.Add(2*time.Second)))
	admin.until("a position in Hamburg", e2e.EventWait, func() bool { return len(admin.frames[hamburg.ID()]) > 1 })
	require.Equal(t, "location", admin.frames[hamburg.ID()][1])
	for _, f := range admin.c.Collect(1500 * time.Millisecond) {
		admin.keep(f)
	}
	require.Len(t, admin.frames[inside.ID()], seenInside, "Berlin is out of view now: %v", admin.frames[inside.ID()])
	require.Equal(t, 6, admin.cells.Zoom, "the Hamburg box is 0.6° wide")

	// A watcher without a viewport still gets every driver.
	all := &fleetView{t: t, c: e2e.Dial(t, "all", n.Addr(), a.Admin.Token, nil), frames: map[string][]string{}}
	require.Equal(t, "ack", all.ask(map[string]any{"type": "subscribe", "channel": "fleet"}).Type)
	all.until("every driver", e2e.EventWait, func() bool {
		return len(all.frames[inside.ID()]) > 0 && len(all.frames[mover.ID()]) > 0 && len(all.frames[hamburg.ID()]) > 0
	})
	require.Nil(t, all.cells, "no counts without a viewport")
}

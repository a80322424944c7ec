package ws

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestViewportCheck(t *testing.T) {
	t.Parallel()
	z := func(n int) *int { return &n }
	for name, tc := range map[string]struct {
		v    viewport
		want string
	}{
		"a city":                  {viewport{South: 52.3, West: 13, North: 52.7, East: 13.8}, ""},
		"across the antimeridian": {viewport{South: -20, West: 170, North: -10, East: -170}, ""},
		"the world":               {viewport{South: -90, West: -180, North: 90, East: 180, Zoom: z(0)}, ""},
		"south above north":       {viewport{South: 53, West: 13, North: 52, East: 14}, "viewport.south must be below viewport.north"},
		"no height":               {viewport{South: 52, West: 13, North: 52, East: 14}, "viewport.south must be below viewport.north"},
		"no width":                {viewport{South: 52, West: 13, North: 53, East: 13}, "viewport.west and viewport.east must differ"},
		"south beyond the pole":   {viewport{South: -90.5, West: 13, North: 53, East: 14}, "viewport.south must be within ±90"},
		"east beyond 180":         {viewport{South: 52, West: 13, North: 53, East: 181}, "viewport.east must be within ±180"},
		"zoom too fine":           {viewport{South: 52, West: 13, North: 53, East: 14, Zoom: z(17)}, "viewport.zoom must be 0..16"},
		"zoom negative":           {viewport{South: 52, West: 13, North: 53, East: 14, Zoom: z(-1)}, "viewport.zoom must be 0..16"},
	} {
		require.Equal(t, tc.want, tc.v.check(), name)
	}
}

func TestViewportContains(t *testing.T) {
	t.Parallel()
	berlin := viewport{South: 52.3, West: 13, North: 52.7, East: 13.8}
	pacific := viewport{South: -20, West: 170, North: -10, East: -170}
	for _, tc := range []struct {
		v        *viewport
		lat, lng float64
		want     bool
	}{
		{&berlin, 52.52, 13.405, true},
		{&berlin, 52.3, 13, true}, // edges count
		{&berlin, 52.52, 13.85, false},
		{&berlin, 53.55, 13.405, false},
		{&pacific, -15, 175, true},
		{&pacific, -15, -175, true},
		{&pacific, -15, 180, true},
		{&pacific, -15, 0, false},
		{&pacific, -15, 169, false},
	} {
		require.Equal(t, tc.want, tc.v.contains(tc.lat, tc.lng), "%+v contains (%v, %v)", *tc.v, tc.lat, tc.lng)
	}
	require.InDelta(t, 0.8, berlin.width(), 1e-9)
	require.InDelta(t, 20, pacific.width(), 1e-9)
}

// TestTiles: tile numbers as map libraries number them (OpenStreetMap's
// slippy-map tiles: Berlin's Brandenburg Gate is tile 10/550/335).
func TestTiles(t *testing.T) {
	t.Parallel()
	require.Equal(t, tile{550, 335}, tileOf(52.5163, 13.3777, 10))
	require.Equal(t, tile{0, 0}, tileOf(52.5, 13.4, 0))
	require.Equal(t, tile{1, 0}, tileOf(52.5, 13.4, 1))
	require.Equal(t, tile{0, 1}, tileOf(-33.9, -70.6, 1))
	require.Equal(t, tile{3, 3}, tileOf(-90, 180, 2), "poles and the antimeridian stay on the map")
	s, w, n, e := tile{550, 335}.bounds(10)
	require.True(t, s < 52.5163 && 52.5163 < n && w < 13.3777 && 13.3777 < e, "%v %v %v %v", s, w, n, e)
	// A city's cells are three levels coarser than its box's zoom.
	require.Equal(t, 5, (&viewport{South: 52.3, West: 13, North: 52.7, East: 13.8}).cellZoom())
	require.Equal(t, 0, (&viewport{South: -90, West: -180, North: 90, East: 180}).cellZoom())
	seven := 7
	require.Equal(t, 7, (&viewport{South: 52.3, West: 13, North: 52.7, East: 13.8, Zoom: &seven}).cellZoom())
}

// TestCellsFrame: counts per tile with the mean position, tiles wholly
// inside the viewport left out, in tile order.
func TestCellsFrame(t *testing.T) {
	t.Parallel()
	known := map[string]*fleetDriver{
		"berlin-1": {placed: true, lat: 52.50, lng: 13.40},
		"berlin-2": {placed: true, lat: 52.54, lng: 13.42},
		"hamburg":  {placed: true, lat: 53.55, lng: 9.99},
		"nowhere":  {stated: true}, // no position yet
	}
	wide := viewport{South: 52.3, West: 13, North: 52.7, East: 13.8}
	counts := cellCounts(known, 5)
	var frame struct {
		Type, Channel, At string
		Zoom              int
		Cells             []struct {
			X, Y, Count int
			Lat, Lng    float64
		}
	}
	at := time.Date(2026, 12, 6, 1, 2, 3, 4e6, time.UTC)
	require.NoError(t, json.Unmarshal(cellsFrame(5, cellsJSON(&wide, 5, counts), at), &frame))
	require.Equal(t, "cells", frame.Type)
	require.Equal(t, "fleet", frame.Channel)
	require.Equal(t, "2026-12-06T01:02:03.004Z", frame.At)
	require.Equal(t, 5, frame.Zoom)
	require.Len(t, frame.Cells, 2)
	require.Equal(t, []int{16, 10, 1}, []int{frame.Cells[0].X, frame.Cells[0].Y, frame.Cells[0].Count})
	require.Equal(t, []int{17, 10, 2}, []int{frame.Cells[1].X, frame.Cells[1].Y, frame.Cells[1].Count})
	require.InDelta(t, 52.52, frame.Cells[1].Lat, 1e-9)
	require.InDelta(t, 13.41, frame.Cells[1].Lng, 1e-9)
	// A viewport holding Berlin's zoom-12 tile wholly: that cell is left out.
	counts = cellCounts(known, 12)
	bt := tileOf(52.50, 13.40, 12)
	s, w, n, e := bt.bounds(12)
	around := viewport{South: s - 0.01, West: w - 0.01, North: n + 0.01, East: e + 0.01}
	var cells []struct{ X, Y, Count int }
	require.NoError(t, json.Unmarshal(cellsJSON(&around, 12, counts), &cells))
	for _, c := range cells {
		require.False(t, c.X == bt.x && c.Y == bt.y, "a cell inside the viewport is sent: %+v", cells)
	}
	require.Len(t, cells, 2, "%+v", cells)
}

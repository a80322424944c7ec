package main

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCountFrames(t *testing.T) {
	t.Parallel()
	location := `{"type":"location","channel":"fleet","driver_id":"usr_1","lat":52.5,"lng":13.4,"ts":"2026-12-06T01:00:00.000Z"}`
	driver := `{"type":"driver","channel":"fleet","driver_id":"usr_2","status":"online","available":true,"capacity":20,"active_orders":0,"lat":52.5,"lng":13.4,"at":"2026-12-06T01:00:00.000Z"}`
	cells := `{"type":"cells","channel":"fleet","zoom":6,"cells":[{"x":34,"y":20,"count":12,"lat":50.1,"lng":10.2},{"x":35,"y":21,"count":3,"lat":48.1,"lng":12.2}],"at":"2026-12-06T01:00:00.000Z"}`
	ack := `{"type":"ack","id":"sub-fleet"}`
	for _, tc := range []struct {
		name string
		msg  string
		want frameCounts
	}{
		{"one location frame", location, frameCounts{msgs: 1, frames: 1, location: 1}},
		{"a cells frame: its cells are not frames", cells, frameCounts{msgs: 1, frames: 1, cells: 1}},
		{"a batch", "[" + location + "," + driver + "," + location + "," + cells + "," + ack + "]",
			frameCounts{msgs: 1, frames: 5, location: 2, driver: 1, cells: 1, other: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.bytes = int64(len(tc.msg))
			require.Equal(t, tc.want, countFrames([]byte(tc.msg)))
		})
	}
	a := countFrames([]byte(location))
	b := addCounts(a, countFrames([]byte("["+location+","+cells+"]")))
	require.Equal(t, frameCounts{msgs: 2, frames: 3, bytes: int64(2*len(location) + len(cells) + 3), location: 2, cells: 1}, b)
	require.Equal(t, frameCounts{msgs: 1, frames: 2, bytes: int64(len(location) + len(cells) + 3), location: 1, cells: 1}, b.minus(a))
}

func TestAckError(t *testing.T) {
	t.Parallel()
	require.NoError(t, ackError([]byte(`{"type":"ack","id":"sub-fleet"}`)))
	require.NoError(t, ackError([]byte(`[{"type":"driver","channel":"fleet","driver_id":"usr_1"},{"type":"ack","id":"sub-fleet"}]`)))
	err := ackError([]byte(`{"type":"error","id":"sub-fleet","code":"validation_failed","message":"viewport.south must be below viewport.north"}`))
	require.ErrorContains(t, err, "validation_failed")
	require.Error(t, ackError([]byte(`{"type":"ack","id":"other"}`)))
	require.Error(t, ackError([]byte(`[{"type":"ack"`)))
}

func TestParseFleetview(t *testing.T) {
	t.Parallel()
	c, err := parseFleetview(&target{}, []string{"-every", "1s, 5s", "-configs", "viewport,both"})
	require.NoError(t, err)
	require.Equal(t, []time.Duration{time.Second, 5 * time.Second}, c.every)
	require.Equal(t, []string{"viewport", "both"}, c.configs)
	require.Equal(t, 50_000, c.drivers)
	for _, args := range [][]string{
		{"-configs", "viewport,all"},
		{"-configs", ""},
		{"-every", "1s,100ms"},
		{"-every", "soon"},
		{"-drivers", "100001"},
		{"-speed", "80"},
		{"-city-share", "1.5"},
		{"-country-km", "10"}, // smaller than the city
		{"-quiet", "/tmp/q", "-runs", "10", "-duration", "2m"},
		{"-addr", "10.0.0.1:8787"},
	} {
		_, err := parseFleetview(&target{}, args)
		require.Error(t, err, "%v", args)
	}
}

func TestCityDrivers(t *testing.T) {
	t.Parallel()
	require.Equal(t, 2_500, cityDrivers(50_000, 0.05))
	require.Equal(t, 900, cityDrivers(18_000, 0.05))
	require.Equal(t, 0, cityDrivers(10, 0))
	require.Equal(t, 10, cityDrivers(10, 1))
}

func TestSpreadOf(t *testing.T) {
	t.Parallel()
	require.Equal(t, spread{median: 5, lo: 1, hi: 9}, spreadOf([]float64{9, 1, 5}))
	require.Equal(t, spread{median: 3, lo: 2, hi: 6}, spreadOf([]float64{6, 2, 4, 2}))
	require.Equal(t, "5 (1–9)", spreadOf([]float64{9, 1, 5}).format(commas))
	require.Equal(t, "7", spreadOf([]float64{7}).format(commas))
}

func TestParseNofile(t *testing.T) {
	t.Parallel()
	limits := "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max cpu time              unlimited            unlimited            seconds   \n" +
		"Max open files            20000                20000                files     \n"
	n, err := parseNofile(limits)
	require.NoError(t, err)
	require.EqualValues(t, 20_000, n)
	n, err = parseNofile("Max open files            unlimited            unlimited            files\n")
	require.NoError(t, err)
	require.EqualValues(t, int64(math.MaxInt64), n)
	_, err = parseNofile("Max cpu time unlimited unlimited seconds\n")
	require.Error(t, err)
}

package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
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
		{"-nodes", "127.0.0.1:8881,10.0.0.1:8882", "-pids", "1,2"},
		{"-nodes", "127.0.0.1:8881,127.0.0.1:8882", "-pids", "1"},
		{"-pids", "one"},
		{"-procs", "17"},
		{"-procs", "63", "-sources", "4"},
		{"-shard", "3/3"},
		{"-shard", "1"},
	} {
		_, err := parseFleetview(&target{}, args)
		require.Error(t, err, "%v", args)
	}
}

func TestParseFleetviewNodes(t *testing.T) {
	t.Parallel()
	c, err := parseFleetview(&target{}, []string{"-pid", "7"})
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:8787"}, c.nodes, "default: -addr")
	require.Equal(t, []int{7}, c.pids, "default: -pid")
	require.Equal(t, 50_000, c.socketsPerProc())

	c, err = parseFleetview(&target{}, []string{"-drivers", "50000", "-nodes", "127.0.0.1:8881, 127.0.0.1:8882,127.0.0.1:8883",
		"-pids", "11,12,13", "-procs", "3", "-shard", "2/3"})
	require.NoError(t, err)
	require.Equal(t, []int{11, 12, 13}, c.pids)
	require.Equal(t, shardSpec{2, 3}, c.shard)
	require.Equal(t, 16_667, c.socketsPerProc())
	require.Equal(t, 16_667, c.socketsPerNode())
	ts := c.targets(&target{dataDir: "/d"})
	require.Len(t, ts, 3)
	require.Equal(t, target{addr: "127.0.0.1:8882", dataDir: "/d", pid: 12}, *ts[1])
}

func TestShardSpan(t *testing.T) {
	t.Parallel()
	// The spans of n shards cover the drivers once each.
	for _, tc := range []struct{ drivers, n int }{{50_000, 3}, {10, 4}, {2, 3}, {7, 1}} {
		next := 0
		for k := range tc.n {
			lo, hi := shardSpec{k, tc.n}.span(tc.drivers)
			require.Equal(t, next, lo, "%+v shard %d", tc, k)
			require.LessOrEqual(t, hi-lo, (tc.drivers+tc.n-1)/tc.n)
			next = hi
		}
		require.Equal(t, tc.drivers, next, "%+v", tc)
	}
}

func TestShardProcLines(t *testing.T) {
	t.Parallel()
	p := &shardProc{}
	opened := 0
	for _, l := range []string{"open 16667", "progress 10 0 0 0", "progress 25 1 3 2", "progress garbled", "closed 1 (1×code 1006)"} {
		p.line(l, func() { opened++ })
	}
	require.Equal(t, 1, opened)
	require.Equal(t, driverProgress{sent: 25, cut: 1, replies: 3, writeErrs: 2}, p.last)
	require.Equal(t, "1 (1×code 1006)", p.closed)
}

// TestFleetStreamPaces: each driver sends a fix every period, however
// few drivers a writer has.
func TestFleetStreamPaces(t *testing.T) {
	t.Parallel()
	var got atomic.Int64
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
			got.Add(1)
		}
	}))
	defer srv.Close()
	cfg, err := parseFleetview(&target{}, []string{"-writers", "4"})
	require.NoError(t, err)
	conns := make([]*websocket.Conn, 3) // 3 drivers, 4 writers: one has none, three have one each
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		require.NoError(t, err)
		defer c.Close()
		conns[i] = c
	}
	st := newFleetStream(cfg, conns)
	const period, window = 100 * time.Millisecond, 1500 * time.Millisecond
	st.period.Store(int64(period))
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	done := make(chan struct{})
	for w := range cfg.writers {
		go func() { st.write(ctx, w); done <- struct{}{} }()
	}
	for range cfg.writers {
		<-done
	}
	// Each writer starts within its first second; 3 drivers × 15 periods at most.
	sent := st.sent.Load()
	require.Greater(t, sent, int64(3), "the drivers sent")
	require.LessOrEqual(t, sent, int64(3*(window/period)+3), "the drivers sent faster than every %s", period)
}

func TestCityDrivers(t *testing.T) {
	t.Parallel()
	require.Equal(t, 2_500, cityDrivers(50_000, 0.05))
	require.Equal(t, 900, cityDrivers(18_000, 0.05))
	require.Equal(t, 0, cityDrivers(10, 0))
	require.Equal(t, 10, cityDrivers(10, 1))
}

// TestIsCity: the city's drivers are k of n, spread evenly (so each
// writer's round sends them across the fix interval, not in one burst).
func TestIsCity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, k int }{{16_667, 833}, {50_000, 2_500}, {10, 0}, {10, 10}, {7, 3}} {
		got, last, maxGap := 0, -1, 0
		for i := range tc.n {
			if isCity(i, tc.n, tc.k) {
				got++
				maxGap = max(maxGap, i-last)
				last = i
			}
		}
		require.Equal(t, tc.k, got, "%+v", tc)
		if tc.k > 0 {
			gap := (tc.n + tc.k - 1) / tc.k
			require.LessOrEqual(t, maxGap, gap, "%+v: city drivers bunched", tc)
			require.GreaterOrEqual(t, last, tc.n-gap, "%+v: city drivers bunched at the start", tc)
		}
	}
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

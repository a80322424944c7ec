package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"none", nil, 99, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"nearest rank rounds up", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
		{"tiny q is the min", ms(hundred...), 0.001, time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, percentile(tc.samples, tc.q))
		})
	}
}

func TestSummarizeSorts(t *testing.T) {
	t.Parallel()
	s := summarize([]time.Duration{5, 1, 4, 2, 3})
	require.Equal(t, summary{n: 5, p50: 3, p90: 5, p99: 5, max: 5}, s)
}

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	text := `# HELP outrider_ws_location_frames_total Driver location frames by outcome.
# TYPE outrider_ws_location_frames_total counter
outrider_ws_location_frames_total{outcome="passed"} 770006
outrider_ws_location_frames_total{outcome="throttled"} 0
outrider_driver_fixes_total{outcome="accepted"} 6.73303e+05
weird_total{path="/a b",code="200"} 3 1700000000000
process_cpu_seconds_total 25.74

go_goroutines 37
`
	m, err := parseMetrics(strings.NewReader(text))
	require.NoError(t, err)
	require.Equal(t, 770006.0, m[series("outrider_ws_location_frames_total", "outcome", "passed")])
	require.Equal(t, 673303.0, m[series("outrider_driver_fixes_total", "outcome", "accepted")])
	require.Equal(t, 3.0, m[`weird_total{path="/a b",code="200"}`])
	require.Equal(t, 25.74, m["process_cpu_seconds_total"])
	require.Len(t, m, 6)

	_, err = parseMetrics(strings.NewReader("no_value_here\n"))
	require.Error(t, err)
	_, err = parseMetrics(strings.NewReader("bad 1x\n"))
	require.Error(t, err)
}

func TestSeriesSortsLabels(t *testing.T) {
	t.Parallel()
	require.Equal(t, "m", series("m"))
	require.Equal(t, `m{a="1",b="2"}`, series("m", "b", "2", "a", "1"))
}

func TestParseVmRSS(t *testing.T) {
	t.Parallel()
	kb, err := parseVmRSS("Name:\toutrider\nVmPeak:\t 2102320 kB\nVmRSS:\t  328748 kB\nThreads:\t9\n")
	require.NoError(t, err)
	require.Equal(t, int64(328748), kb)
	_, err = parseVmRSS("Name:\toutrider\n")
	require.Error(t, err)
}

func TestEventAt(t *testing.T) {
	t.Parallel()
	frame := `{"type":"event","channel":"order:ord_1","seq":3,"event":"assigned","data":{"order":{"created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:01.000Z"},"by":{"user_id":"u","role":"admin"}},"at":"2026-01-01T00:00:02.345Z"}`
	at, ok := eventAt([]byte(frame))
	require.True(t, ok)
	require.Equal(t, time.Date(2026, 1, 1, 0, 0, 2, 345e6, time.UTC), at.UTC())
	_, ok = eventAt([]byte(`{"type":"ack","id":"x"}`))
	require.False(t, ok)
}

func TestFixClockStrictlyIncreases(t *testing.T) {
	t.Parallel()
	var c fixClock
	now := time.UnixMilli(1_000)
	require.Equal(t, int64(1_000), c.next(now))
	require.Equal(t, int64(1_001), c.next(now))
	require.Equal(t, int64(1_002), c.next(now.Add(-time.Second)))
	require.Equal(t, int64(5_000), c.next(time.UnixMilli(5_000)))
}

func TestFixFrame(t *testing.T) {
	t.Parallel()
	got := string(fixFrame(nil, 52.5, -13.25, 1700000000123))
	require.Equal(t, `{"type":"location","lat":52.5000000,"lng":-13.2500000,"ts":1700000000123}`, got)
}

func TestIsAck(t *testing.T) {
	t.Parallel()
	require.True(t, isAck([]byte(`{"type":"ack","id":"live"}`), "live"))
	require.False(t, isAck([]byte(`{"type":"ack","id":"other"}`), "live"))
	require.False(t, isAck([]byte(`{"type":"error","id":"live","code":"forbidden"}`), "live"))
}

func TestCommas(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -45000: "-45,000"} {
		require.Equal(t, want, commas(in))
	}
}

func TestTargetRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	require.NoError(t, (&target{addr: "127.0.0.1:8787"}).check())
	require.NoError(t, (&target{addr: "localhost:80"}).check())
	require.Error(t, (&target{addr: "10.0.0.1:8787"}).check())
	require.Error(t, (&target{addr: ":8787"}).check())
}

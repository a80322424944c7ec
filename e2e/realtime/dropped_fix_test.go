package realtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
)

// A fix the node drops is never dropped in silence (issue #16): a GPS
// jump or a fix older than the previous one is answered with an error
// frame at once when it has an id, and fixes beyond the location rate
// are told at most once a second, with how many were dropped.
func TestDroppedFixesAreTold(t *testing.T) {
	n, a := e2e.Up(t, func(cfg *app.Config) {
		cfg.WS.LocationRate = 5
		// The frame limit answers every frame over it (its own error);
		// this test is about the location rate, below it.
		cfg.WS.InboundRate, cfg.WS.InboundBurst = 1000, 1000
	})
	drv := a.CreateDriver(t, 1, true)
	dc := e2e.Dial(t, "driver", n.Addr(), drv.Token, e2e.SkipNotifications)
	start := time.Now().Add(-10 * time.Second)
	fix := func(lat float64, at time.Time) map[string]any {
		return map[string]any{"type": "location", "lat": lat, "lng": 13.405, "ts": at.UnixMilli()}
	}

	require.Equal(t, "ack", dc.Ask(fix(52.52, start)).Type)
	for _, tc := range []struct {
		name string
		lat  float64
		at   time.Time
		want string // in the error's message
	}{
		// Paris, a second later: 880 km/s.
		{"a GPS jump", 48.8566, start.Add(time.Second), "GPS jump"},
		{"older than the previous fix", 52.5201, start.Add(-time.Second), "not after the previous fix"},
		{"as old as the previous fix", 52.5201, start, "not after the previous fix"},
	} {
		f := dc.Ask(fix(tc.lat, tc.at))
		require.Equal(t, "error", f.Type, tc.name)
		require.Equal(t, "validation_failed", f.Code, tc.name)
		require.Contains(t, f.Message, tc.want, tc.name)
	}
	// A plausible fix after them still passes: the dropped ones did not
	// move the session's last fix.
	require.Equal(t, "ack", dc.Ask(fix(52.5201, start.Add(2*time.Second))).Type)

	// 40 fixes without ids at once against 5 a second: the extras are
	// dropped, and the client hears so once, not 35 times.
	for i := range 40 {
		dc.Send(fix(52.5201+float64(i)*1e-6, start.Add(3*time.Second+time.Duration(i)*10*time.Millisecond)))
	}
	var notices []string
	for _, f := range dc.Collect(500 * time.Millisecond) {
		if f.Type == "error" {
			require.Equal(t, "rate_limited", f.Code, "%s", f.Raw)
			notices = append(notices, f.Message)
		}
	}
	require.Len(t, notices, 1, "one notice for the burst: %q", notices)
	require.True(t, strings.HasPrefix(notices[0], "fix dropped") || strings.Contains(notices[0], "fixes dropped"), notices[0])
}

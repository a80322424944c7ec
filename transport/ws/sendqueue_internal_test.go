package ws

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestSendQueueBounds: a session's send queue takes frames until the
// next one would pass SendQueueSize frames or SendQueueBytes bytes; that
// frame cuts the client off with 4008 (counted as a slow consumer) and
// nothing more is queued. The writer is held back (writing is set) so the
// queue only fills, as behind a client that does not read.
func TestSendQueueBounds(t *testing.T) {
	t.Parallel()
	frame := bytes.Repeat([]byte("x"), 100)
	for name, tc := range map[string]struct {
		frames, bytes int
		fits          int // frames queued before the one that cuts off
	}{
		"frames bound":                {frames: 10, bytes: 1 << 20, fits: 10},
		"bytes bound":                 {frames: 4096, bytes: 1000, fits: 10},
		"bytes bound, not a multiple": {frames: 4096, bytes: 1050, fits: 10},
		"defaults":                    {fits: min(DefaultSendQueueSize, DefaultSendQueueBytes/100)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{SendQueueSize: tc.frames, SendQueueBytes: tc.bytes}
			cfg.defaults()
			g := &Gateway{cfg: cfg, metrics: newMetrics(prometheus.NewRegistry())}
			s := &session{g: g, writing: true}
			for i := range tc.fits {
				s.send(frame)
				require.Zero(t, s.closeCode, "cut off at frame %d", i+1)
			}
			require.Len(t, s.queue, tc.fits)
			require.Equal(t, tc.fits*len(frame), s.queued)
			s.send(frame)
			require.Equal(t, CloseSlowConsumer, s.closeCode)
			require.Empty(t, s.queue, "a closing session drops its queue")
			require.Zero(t, s.queued)
			require.Equal(t, 1.0, testutil.ToFloat64(g.metrics.slow))
			s.send(frame)
			require.Empty(t, s.queue, "nothing is queued once closing")
		})
	}
}

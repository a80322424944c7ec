package cluster

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRepeatsLogADeadPeerOnce: the library reports every failed try at a
// dead peer (endpoint writer, gossip, automanaged health checks, each
// about once a second); the node passes the first report of one message
// about one peer and drops the same again for a minute.
func TestRepeatsLogADeadPeerOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	rec := func(at time.Duration, level slog.Level, msg string, attrs ...slog.Attr) slog.Record {
		r := slog.NewRecord(t0.Add(at), level, msg, 0)
		r.AddAttrs(attrs...)
		return r
	}
	peerA, peerB := slog.String("address", "10.0.0.1:7000"), slog.String("address", "10.0.0.2:7000")
	steps := []struct {
		name string
		r    slog.Record
		pass bool
	}{
		{"first failure about A", rec(0, slog.LevelError, "EndpointWriter failed to connect", peerA), true},
		{"the same a second later", rec(time.Second, slog.LevelError, "EndpointWriter failed to connect", peerA), false},
		{"another message about A", rec(time.Second, slog.LevelWarn, "sendGossipForMember failed", slog.String("MemberId", "a")), true},
		{"the same failure about B", rec(2*time.Second, slog.LevelError, "EndpointWriter failed to connect", peerB), true},
		{"A again within the minute", rec(59*time.Second, slog.LevelError, "EndpointWriter failed to connect", peerA), false},
		{"A again after the minute", rec(61*time.Second, slog.LevelError, "EndpointWriter failed to connect", peerA), true},
		{"info about a peer is never dropped", rec(62*time.Second, slog.LevelInfo, "EndpointWriter failed to connect", peerA), true},
		{"a record about no peer is never dropped", rec(62*time.Second, slog.LevelError, "gossip failed"), true},
		{"nor its repeat", rec(63*time.Second, slog.LevelError, "gossip failed"), true},
	}
	q := &repeats{last: map[string]time.Time{}}
	for _, s := range steps {
		require.Equal(t, s.pass, q.first(s.r), s.name)
	}
}

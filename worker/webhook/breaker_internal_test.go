package webhook

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIdleBreakersAreDropped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	var (
		mu  sync.Mutex
		now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	c := NewClient(Config{Now: clock, BreakerIdle: time.Minute, BreakerCooldown: time.Second, AllowPrivate: true})
	t.Cleanup(c.CloseIdleConnections)
	d := Delivery{ID: "d", EventID: "e", EventType: "t", Body: []byte(`{}`)}
	deliver := func(id string) {
		require.True(t, c.Deliver(t.Context(), Endpoint{ID: id, URL: srv.URL, Secret: "s"}, d).Succeeded())
	}

	for _, id := range []string{"a", "b", "c"} {
		deliver(id)
	}
	require.Equal(t, 3, c.breakers.len())
	advance(45 * time.Second)
	deliver("a") // sweeps (45s ≥ idle/2) but nothing is idle for a minute yet
	require.Equal(t, 3, c.breakers.len())
	advance(30 * time.Second)
	deliver("d") // b and c idle for 75s: dropped; a used 30s ago: kept
	require.Equal(t, 2, c.breakers.len())
}

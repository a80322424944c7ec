package ws_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
)

// TestDriverPresence: a driver is online while a WebSocket session of
// theirs is open, on any node; closing the last one takes them offline.
func TestDriverPresence(t *testing.T) {
	n := e2e.Start(t, nil)
	a := newAPI(t, n)
	admin := a.admin()
	d := a.driver(admin)
	online := func() bool {
		return a.do("GET", "/v1/drivers/"+d.id, admin.token, nil, 200)["online"].(bool)
	}
	require.False(t, online(), "no session yet")

	c1, c2 := dial(t, n, d.token), dial(t, n, d.token)
	require.True(t, online(), "the session is registered before the upgrade completes")
	listed := func() bool {
		for _, it := range a.do("GET", "/v1/drivers?limit=200", admin.token, nil, 200)["items"].([]any) {
			if m := it.(map[string]any); m["id"] == d.id {
				return m["online"].(bool)
			}
		}
		t.Fatalf("driver %s not listed", d.id)
		return false
	}
	require.True(t, listed())

	require.NoError(t, c1.conn.Close())
	require.Never(t, func() bool { return !online() }, 300*time.Millisecond, 20*time.Millisecond,
		"still online while the second session is open")
	require.NoError(t, c2.conn.Close())
	require.Eventually(t, func() bool { return !online() }, 5*time.Second, 20*time.Millisecond,
		"offline once the last session closed")
	require.False(t, listed())
}

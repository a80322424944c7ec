package realtime_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// TestDriverPresence: a driver is online while a WebSocket session of
// theirs is open, on any node; closing the last one takes them offline.
func TestDriverPresence(t *testing.T) {
	n, a := e2e.Up(t, nil)
	d := a.CreateDriver(t, 0, true)
	online := func() bool { return a.Admin.Driver(t, d.ID()).Online }
	require.False(t, online(), "no session yet")

	c1 := e2e.Dial(t, "session 1", n.Addr(), d.Token, nil)
	c2 := e2e.Dial(t, "session 2", n.Addr(), d.Token, nil)
	require.True(t, online(), "the session is registered before the upgrade completes")
	listed := func() bool {
		var p wire.Page[wire.Driver]
		a.Admin.Get(t, "/v1/drivers?limit=200").Decode(t, http.StatusOK, &p)
		for _, it := range p.Items {
			if it.ID == d.ID() {
				return it.Online
			}
		}
		t.Fatalf("driver %s not listed", d.ID())
		return false
	}
	require.True(t, listed())

	require.NoError(t, c1.Conn.Close())
	never(t, 300*time.Millisecond, func() bool { return !online() }, "still online while the second session is open")
	require.NoError(t, c2.Conn.Close())
	eventually(t, 5*time.Second, func() bool { return !online() }, "offline once the last session closed")
	require.False(t, listed())
}

package ws_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/ws"
)

// TestNewSessionIsNotSilent: a ping tick that sees a session before its
// reader has started (a driver's job subscription waits on the bus first;
// the load tool saw 558 of 10,000 driver sockets closed this way) must
// not take it for a silent client: "no pong" only after PongWait without
// a frame, counted from the upgrade. The hook holds each new session
// before its reader starts until the ticker has visited sessions three
// more times.
func TestNewSessionIsNotSilent(t *testing.T) {
	n, a := e2e.Up(t, func(c *app.Config) {
		c.WS.PingInterval = 20 * time.Millisecond
		c.WS.PongWait = 5 * time.Second
	})
	var pings atomic.Int64
	ws.SetHooks(t, ws.Hooks{
		Pinged: func() { pings.Add(1) },
		Started: func() {
			want := pings.Load() + 3
			deadline := time.Now().Add(5 * time.Second)
			for pings.Load() < want && time.Now().Before(deadline) {
				<-time.After(time.Millisecond) // poll the ticker's count
			}
		},
	})
	for _, c := range []*e2e.Caller{a.Signup(t), a.CreateDriver(t, 1, true)} {
		before := pings.Load()
		conn := e2e.Dial(t, c.User.Role, n.Addr(), c.Token, nil)
		conn.Send(map[string]any{"type": "ping"})
		require.Equal(t, "pong", conn.Must(5*time.Second).Type, "%s: closed as silent right after the upgrade", c.User.Role)
		require.GreaterOrEqual(t, pings.Load()-before, int64(3), "the ticker visited the session before its reader started")
	}
}

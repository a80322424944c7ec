package realtime_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/ws"
)

// TestSessionCap (issue #14, finding 3): one account cannot hold more
// sockets than its role's cap — the probe opened 1,000 as one customer.
// Each socket beyond the cap closes that user's oldest with 4009; the
// newest ones keep working, and other users are not touched.
func TestSessionCap(t *testing.T) {
	const limit = 3
	n, a := e2e.Up(t, func(c *app.Config) { c.WS.MaxSessionsCustomer = limit })
	customer := a.Signup(t)
	other := e2e.Dial(t, "other", n.Addr(), a.Signup(t).Token, nil)

	const opened = 40
	socks := make([]*e2e.WS, opened)
	for i := range socks {
		socks[i] = e2e.Dial(t, fmt.Sprint("sock-", i), n.Addr(), customer.Token, nil)
		socks[i].Send(map[string]any{"type": "ping"})
		require.Equal(t, "pong", socks[i].Must(e2e.EventWait).Type)
	}
	for _, c := range socks[:opened-limit] {
		require.Equal(t, ws.CloseSessionLimit, c.CloseCode(e2e.EventWait), c.Name)
	}
	for _, c := range append(socks[opened-limit:], other) {
		c.Send(map[string]any{"type": "ping"})
		require.Equal(t, "pong", c.Must(5*time.Second).Type, c.Name)
	}
}

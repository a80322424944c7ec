//go:build linux

package realtime_test

// The poller is epoll: on other systems every session reads on a
// goroutine of its own by design, so this test is Linux's.

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
)

// Idle sessions hold no goroutine when the node reads through its
// poller; with a goroutine per session, each holds one.
func TestIdleSessionsHoldNoGoroutine(t *testing.T) {
	const sockets = 40
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			n, a := e2e.Up(t, func(cfg *app.Config) {
				cfg.WS.BlockingReads = mode.blocking
				cfg.WS.ReadLinger = 50 * time.Millisecond
				// Kept reader goroutines belong to no session: let them
				// go before the count settles.
				cfg.WS.ReaderKeep = 20 * time.Millisecond
				cfg.WS.MaxSessionsCustomer = sockets + 1 // one user holds them all
			})
			cust := a.Signup(t)
			warm := e2e.Dial(t, "warm", n.Addr(), cust.Token, nil)
			warm.Send(ping)
			require.Equal(t, "pong", warm.Must(5*time.Second).Type)
			settled := func() int {
				// Wait for a count that holds still for a moment.
				last := runtime.NumGoroutine()
				for i := 0; i < 20; i++ {
					<-time.After(50 * time.Millisecond)
					if g := runtime.NumGoroutine(); g != last {
						last, i = g, 0
					}
				}
				return last
			}
			base := settled()
			clients := make([]*e2e.WS, sockets)
			for i := range clients {
				clients[i] = e2e.Dial(t, "idle", n.Addr(), cust.Token, nil)
				clients[i].Send(ping) // every session has read once
				require.Equal(t, "pong", clients[i].Must(5*time.Second).Type)
			}
			// The node runs in this process with its clients: each e2e.WS
			// holds one goroutine, its reader, which is not the node's.
			grown := settled() - base - sockets
			if mode.blocking {
				// (other goroutines of the node come and go around the count)
				require.GreaterOrEqual(t, grown, sockets*3/4, "a goroutine per session")
			} else {
				require.Less(t, grown, sockets/4, "idle sessions hold no goroutine")
			}
			// Idle sessions still answer.
			for _, c := range clients {
				c.Send(ping)
				require.Equal(t, "pong", c.Must(5*time.Second).Type)
			}
		})
	}
}

package ws

import (
	"slices"
	"testing"
)

// Sub is what the replay-seam hooks tell the external tests about a
// subscription: Key tells subscriptions apart (a resubscription is a new
// one), OrderID is the order it watches.
type Sub struct {
	Key     any
	OrderID string
}

// Hooks are subscription.go's test hooks as the external tests see them.
// Live sees each live event a subscription takes from the bus and drops it
// by returning false; Replay runs before each journal read of a catch-up
// (read false; an error fails the read) and after it (read true). Either
// may be nil. Both run on the gateway's goroutines, concurrently.
type Hooks struct {
	Live   func(sub Sub, seq int64) bool
	Replay func(sub Sub, after int64, read bool) error
	// Started runs when a new session is in the gateway, before its
	// reader starts; Pinged each time the ping ticker visits a session.
	Started func()
	Pinged  func()
	// Flushing runs when a session's writer starts, before it takes the
	// session's queue; blocking in it lets frames queue up.
	Flushing func()
}

// SetHooks installs h until t ends. Tests that set hooks start their own
// node and do not run in parallel (e2e.Start's rule already).
func SetHooks(t testing.TB, h Hooks) {
	in := &hooks{}
	if h.Live != nil {
		in.live = func(sub *subscription, seq int64) bool { return h.Live(Sub{sub, sub.orderID}, seq) }
	}
	if h.Replay != nil {
		in.replay = func(sub *subscription, after int64, read bool) error {
			return h.Replay(Sub{sub, sub.orderID}, after, read)
		}
	}
	in.started, in.pinged, in.flushing = h.Started, h.Pinged, h.Flushing
	testHooks.Store(in)
	t.Cleanup(func() { testHooks.Store(nil) })
}

// BusSubscriptions lists the order channels and the driver feeds the
// gateway's hub holds a bus subscription for, sorted.
func BusSubscriptions(g *Gateway) (orders, drivers []string) {
	h := g.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for name := range h.channels {
		orders = append(orders, name)
	}
	for d := range h.feeds {
		drivers = append(drivers, d)
	}
	slices.Sort(orders)
	slices.Sort(drivers)
	return orders, drivers
}

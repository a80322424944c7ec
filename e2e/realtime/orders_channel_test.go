package realtime_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
)

// TestOrdersChannel: admins watch every order's events on one channel,
// `orders`, live: a new order arrives as its order.created, each change
// as the order channel's event with the order's own seq.
func TestOrdersChannel(t *testing.T) {
	n, a := e2e.Up(t, nil)
	cust := a.Signup(t)
	drv := a.CreateDriver(t, 1, true)

	for name, tc := range map[string]struct {
		token string
		frame map[string]any
		code  string
	}{
		"a customer": {cust.Token, map[string]any{"type": "subscribe", "channel": "orders"}, "forbidden"},
		"a driver":   {drv.Token, map[string]any{"type": "subscribe", "channel": "orders"}, "forbidden"},
		"since":      {a.Admin.Token, map[string]any{"type": "subscribe", "channel": "orders", "since": 0}, "validation_failed"},
		"a viewport": {a.Admin.Token, map[string]any{"type": "subscribe", "channel": "orders", "viewport": map[string]any{"south": 1, "west": 1, "north": 2, "east": 2}}, "validation_failed"},
	} {
		c := e2e.Dial(t, name, n.Addr(), tc.token, nil)
		f := c.Ask(tc.frame)
		require.Equal(t, "error", f.Type, "%s: %s", name, f.Raw)
		require.Equal(t, tc.code, f.Code, "%s: %s", name, f.Raw)
	}

	admin := e2e.Dial(t, "admin", n.Addr(), a.Admin.Token, nil)
	admin.Subscribe("orders", nil)
	o1 := cust.CreateOrder(t)
	a.Admin.Assign(t, o1.ID, drv.ID())
	o2 := cust.CreateOrder(t)
	want := []struct {
		order, event string
		seq          int64
	}{{o1.ID, "order.created", 1}, {o1.ID, "order.assigned", 2}, {o2.ID, "order.created", 1}}
	evs := admin.Events("orders", len(want))
	for i, w := range want {
		ev := evs[i].OrderEvent(t)
		require.Equal(t, w.event, evs[i].Event, "%s", evs[i].Raw)
		require.Equal(t, w.seq, evs[i].Seq, "%s", evs[i].Raw)
		require.Equal(t, w.order, ev.Order.ID, "%s", evs[i].Raw)
		require.Equal(t, w.seq, ev.Order.Version, "an event's order is the order at its seq")
	}

	// Unsubscribed: nothing more.
	f := admin.Ask(map[string]any{"type": "unsubscribe", "channel": "orders"})
	require.Equal(t, "ack", f.Type, "%s", f.Raw)
	cust.CreateOrder(t)
	for _, f := range admin.Collect(time.Second) {
		require.NotEqual(t, "event", f.Type, "%s", f.Raw)
	}
}

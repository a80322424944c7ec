package ws_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/bus"
	"github.com/outrider/outrider/transport/ws"
	"github.com/outrider/outrider/wire"
)

// TestWatchOrder: an HTTP handler's watch of one order hears the order's
// events and the live positions of the driver the order holds from the
// bus — published here on a connection of their own, as another node's
// relay and driver actors publish them — follows the driver each event
// names (a read of an older version cannot move it back), and shares the
// hub's bus subscriptions: two watches of one order hold one
// subscription, and the last one to stop ends them.
func TestWatchOrder(t *testing.T) {
	t.Parallel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	namespace := "watch_" + hex.EncodeToString(b[:]) + "."
	connect := func() *nats.Conn {
		nc, err := nats.Connect(e2e.NATSURL())
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		return nc
	}
	g := ws.New(ws.Config{}, bus.NewSubscriber(connect(), namespace), nil, nil, nil, nil, nil)
	other := bus.NewPublisher(connect(), namespace) // another node

	const orderID, ana, bo = "ord_01M94F0P0ZKM33JBTQCZRZTGSF", "usr_ana", "usr_bo"
	events, fixes := make(chan int64, 16), make(chan wire.Fix, 16)
	follow, stop, err := g.WatchOrder(orderID, func(seq int64) { events <- seq }, func(f wire.Fix) { fixes <- f })
	require.NoError(t, err)
	subs := func() ([]string, []string) { return ws.BusSubscriptions(g) }
	orders, drivers := subs()
	require.Equal(t, []string{"order:" + orderID}, orders)
	require.Empty(t, drivers)

	publish := func(seq int64, status, driver string) {
		t.Helper()
		o := wire.Order{ID: orderID, Status: status}
		if driver != "" {
			o.DriverID = &driver
		}
		body, err := json.Marshal(wire.OrderEvent{ID: wire.OrderEventID(orderID, seq), Type: "order.x", OrderID: orderID, Seq: seq, Order: o})
		require.NoError(t, err)
		require.NoError(t, other.Publish(wire.OrderSubject(orderID), body))
		select {
		case got := <-events:
			require.Equal(t, seq, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d not heard", seq)
		}
	}
	fix := func(driver string, lat float64) {
		t.Helper()
		body, err := json.Marshal(wire.Fix{DriverID: driver, Position: wire.Position{Lat: lat, Lng: 13.4}, TsMs: time.Now().UnixMilli()})
		require.NoError(t, err)
		require.NoError(t, other.Publish(wire.LocationSubject(driver), body))
		select {
		case got := <-fixes:
			require.Equal(t, driver, got.DriverID)
			require.Equal(t, lat, got.Lat)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s's fix not heard", driver)
		}
	}

	// The handler read the order at version 2: Ana holds it.
	follow(ana, 2)
	_, drivers = subs()
	require.Equal(t, []string{ana}, drivers)
	fix(ana, 52.1)

	// Unassigned and given to Bo on another node: the watch follows Bo.
	publish(3, "pending", "")
	_, drivers = subs()
	require.Empty(t, drivers, "a pending order holds no driver")
	publish(4, "assigned", bo)
	_, drivers = subs()
	require.Equal(t, []string{bo}, drivers)
	follow(ana, 2) // a read older than the event: ignored
	_, drivers = subs()
	require.Equal(t, []string{bo}, drivers)
	fix(bo, 52.2)

	// A second watch of the order shares the subscriptions.
	_, stop2, err := g.WatchOrder(orderID, func(int64) {}, func(wire.Fix) {})
	require.NoError(t, err)
	orders, _ = subs()
	require.Len(t, orders, 1)
	stop2()
	orders, _ = subs()
	require.Len(t, orders, 1, "the first watch still holds it")

	publish(5, "delivered", bo)
	_, drivers = subs()
	require.Empty(t, drivers, "a delivered order holds no driver")
	stop()
	stop()
	orders, drivers = subs()
	require.Empty(t, orders, "the last watch ended the order's bus subscription")
	require.Empty(t, drivers)
}

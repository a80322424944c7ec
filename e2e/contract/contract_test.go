// Package contract_test holds the WebSocket protocol to its AsyncAPI
// document with real traffic: a node, a customer, a driver and an admin
// on sockets through a whole lifecycle, every frame sent and received
// validated against the document's messages (recorder_test.go), and
// every message and error code of the document required to have been
// seen, or listed below with why it cannot be provoked here.
package contract_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/httpapi/openapi"
	"github.com/outrider/outrider/transport/httpapi/openapitest"
	"github.com/outrider/outrider/wire"
)

// notProvoked are the error codes of the document this test cannot
// provoke against a healthy node, and why.
var notProvoked = map[string]string{
	"offer_expired": "an accept between the offer's deadline and its expiry firing: a race of milliseconds (after the expiry the order is no longer the driver's: forbidden)",
	"unavailable":   "a store or actor that does not answer in time",
	"internal":      "an order rejection with a code outside the catalogue",
}

func TestSocketTrafficMatchesTheAsyncAPIDocument(t *testing.T) {
	n, a := e2e.Up(t, func(c *app.Config) {
		c.WS.LocationRate = 5
		c.WS.InboundRate, c.WS.InboundBurst = 1000, 1000 // the location rate is what is provoked
		c.WS.MaxSubscriptions = 2
		c.Locations.FlushInterval = 50 * time.Millisecond
		c.Dispatch.RoundInterval = 200 * time.Millisecond
		c.HTTP.Dispatch.Deadline = 3 * time.Second
	})
	l := newLedger(t)

	// The document is served, and is AsyncAPI 3.0.
	r := a.Anon().Get(t, "/v1/asyncapi.json").RequireStatus(t, http.StatusOK)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, openapi.AsyncAPI(), r.Body)
	require.NoError(t, openapitest.ValidateAsyncAPI(r.Body))

	cust := a.Signup(t)
	drv := a.CreateDriver(t, 1, true)
	cs := l.dial(t, "customer", n.Addr(), cust.Token, "")
	ds := l.dial(t, "driver", n.Addr(), drv.Token, "")
	as := l.dial(t, "admin", n.Addr(), a.Admin.Token, "batch=1")
	userCh := func(c *e2e.Caller) string { return "user:" + c.ID() }

	// Refusals: one error frame per code.
	cs.sendBad(`not json`)
	cs.errorFrame("malformed_json")
	cs.sendBad(`{"type":"shout","id":"bad1"}`)
	require.Equal(t, "unknown_type", cs.await("bad1", func(f frame) bool { return f.ID == "bad1" }).Code)
	cs.sendBad(`{"type":"ping","id":"bad2","x":1}`)
	require.Equal(t, "validation_failed", cs.await("bad2", func(f frame) bool { return f.ID == "bad2" }).Code)
	requireError(t, cs.ask(map[string]any{"type": "subscribe", "channel": "order:" + e2e.NonexistentID("ord")}), "not_found")
	requireError(t, cs.ask(map[string]any{"type": "subscribe", "channel": "fleet"}), "forbidden")
	requireError(t, cs.ask(map[string]any{"type": "subscribe", "channel": userCh(drv)}), "forbidden")
	requireError(t, cs.ask(map[string]any{"type": "location", "lat": 52.5, "lng": 13.4, "ts": time.Now().UnixMilli()}), "forbidden")
	requireAck(t, cs.ask(map[string]any{"type": "subscribe", "channel": userCh(cust)}))
	cs.send(map[string]any{"type": "ping"})
	cs.await("pong", func(f frame) bool { return f.Type == "pong" })

	// The fleet: a snapshot of driver frames after the ack.
	requireAck(t, as.ask(map[string]any{"type": "subscribe", "channel": "fleet"}))
	as.await("the driver in the fleet snapshot", func(f frame) bool { return f.Type == "driver" && strings.Contains(string(f.Raw), drv.ID()) })

	// Every order's events, to an admin (no since): the customer's new
	// order arrives there as its order.created.
	os := l.dial(t, "admin orders", n.Addr(), a.Admin.Token, "")
	requireError(t, os.ask(map[string]any{"type": "subscribe", "channel": "orders", "since": 0}), "validation_failed")
	requireError(t, cs.ask(map[string]any{"type": "subscribe", "channel": "orders"}), "forbidden")
	requireAck(t, os.ask(map[string]any{"type": "subscribe", "channel": "orders"}))

	// An order, watched by its customer from seq 0: the replay.
	o := cust.CreateOrder(t)
	orderCh := "order:" + o.ID
	requireAck(t, cs.ask(map[string]any{"type": "subscribe", "channel": orderCh, "since": 0}))
	cs.event(orderCh, "order.created")
	os.event("orders", "order.created")

	// Offered, declined over the socket.
	a.Admin.Assign(t, o.ID, drv.ID())
	ds.event(userCh(drv), wire.JobOffered)
	cs.event(orderCh, "order.assigned")
	os.event("orders", "order.assigned")
	requireAck(t, ds.ask(map[string]any{"type": "decline", "order_id": o.ID}))
	cs.event(orderCh, "order.declined")
	os.event("orders", "order.declined")

	// Offered, watched by the driver (live, no since), taken back: the job
	// is withdrawn and the driver's subscription ends.
	a.Admin.Assign(t, o.ID, drv.ID())
	ds.event(userCh(drv), wire.JobOffered)
	requireAck(t, ds.ask(map[string]any{"type": "subscribe", "channel": orderCh}))
	a.Admin.OrderAction(t, o.ID, "unassign", map[string]any{"reason": "contract test"})
	require.Contains(t, string(ds.event(userCh(drv), wire.JobWithdrawn).Data), `"reason":"unassigned"`)
	ended := ds.await("the end of the driver's order subscription", func(f frame) bool { return f.Type == "error" && f.Channel == orderCh })
	require.Equal(t, "forbidden", ended.Code)
	cs.event(orderCh, "order.unassigned")

	// Offered for 5 s and let lapse.
	a.Admin.OrderAction(t, o.ID, "assign", map[string]any{"driver_id": drv.ID(), "offer_ttl_s": 5})
	ds.event(userCh(drv), wire.JobOffered)
	withdrawn := ds.awaitFor(30*time.Second, "the expired offer's withdrawal", func(f frame) bool {
		return f.Type == "event" && f.Event == wire.JobWithdrawn
	})
	require.Contains(t, string(withdrawn.Data), `"reason":"expired"`)
	cs.event(orderCh, "order.offer_expired")

	// Offered and accepted over the socket; accepting twice is refused.
	a.Admin.Assign(t, o.ID, drv.ID())
	ds.event(userCh(drv), wire.JobOffered)
	requireAck(t, ds.ask(map[string]any{"type": "accept", "order_id": o.ID}))
	accepted := cs.event(orderCh, "order.accepted")
	requireError(t, ds.ask(map[string]any{"type": "accept", "order_id": o.ID}), "invalid_transition")
	// The driver resumes the order from before the accept: replayed (the
	// subscription that ended above is gone, so this one starts afresh).
	requireAck(t, ds.ask(map[string]any{"type": "subscribe", "channel": orderCh, "since": accepted.Seq - 1}))
	ds.event(orderCh, "order.accepted")

	// Positions: to the order's watchers and the fleet; a stale fix and
	// fixes over the rate are dropped, and told.
	start := time.Now().Add(-10 * time.Second)
	fix := func(i int, at time.Time) map[string]any {
		return map[string]any{"type": "location", "lat": 52.52 + float64(i)*1e-6, "lng": 13.405, "speed": 4.2, "heading": 90, "accuracy": 5, "ts": at.UnixMilli()}
	}
	requireAck(t, ds.ask(fix(0, start)))
	cs.await("the driver's position on the order", func(f frame) bool { return f.Type == "location" && f.Channel == orderCh })
	as.await("the driver's position on the fleet", func(f frame) bool { return f.Type == "location" && f.Channel == "fleet" })
	requireError(t, ds.ask(fix(1, start.Add(-time.Second))), "validation_failed")

	// A fleet watcher with a viewport over Paris: the Berlin driver is
	// counted in a cell; the map moves over Berlin: acked, and he is sent.
	vs := l.dial(t, "admin-viewport", n.Addr(), a.Admin.Token, "")
	paris := map[string]any{"south": 48.8, "west": 2.2, "north": 48.95, "east": 2.5}
	requireAck(t, vs.ask(map[string]any{"type": "subscribe", "channel": "fleet", "viewport": paris}))
	vs.awaitFor(30*time.Second, "a cells frame", func(f frame) bool { return f.Type == "cells" })
	berlin := map[string]any{"south": 52.4, "west": 13.2, "north": 52.6, "east": 13.6, "zoom": 6}
	requireAck(t, vs.ask(map[string]any{"type": "viewport", "channel": "fleet", "viewport": berlin}))
	vs.await("the driver inside the viewport", func(f frame) bool {
		return (f.Type == "driver" || f.Type == "location") && strings.Contains(string(f.Raw), drv.ID())
	})
	for i := range 15 {
		ds.send(fix(2+i, start.Add(time.Duration(i+1)*10*time.Millisecond)))
	}
	ds.errorFrame("rate_limited")
	ds.send(map[string]any{"type": "location", "lat": 52.52, "lng": 13.405, "ts": wire.Timestamp(start.Add(5 * time.Second))}) // ts as RFC 3339

	// The way to delivered, with a proof.
	for _, st := range []string{"picked_up", "in_transit"} {
		drv.SetStatus(t, o.ID, st)
		cs.event(orderCh, "order.status_changed")
	}
	e2e.AddProof(t, drv, o.ID)
	cs.event(orderCh, "order.proof_added")
	drv.SetStatus(t, o.ID, "delivered")
	cs.event(orderCh, "order.status_changed")
	a.Admin.Put(t, "/v1/orders/"+o.ID+"/payment", map[string]any{"status": "paid", "reference": "pay-1"}).RequireStatus(t, http.StatusOK)
	cs.event(orderCh, "order.payment_changed")
	cs.event(userCh(cust), "notification.created")

	// The admin's subscriptions are capped at 2 here (fleet and one
	// order); a repeat is acked, a third refused; unsubscribing makes room.
	requireAck(t, as.ask(map[string]any{"type": "subscribe", "channel": orderCh}))
	requireAck(t, as.ask(map[string]any{"type": "subscribe", "channel": orderCh}))
	requireError(t, as.ask(map[string]any{"type": "subscribe", "channel": "order:" + e2e.NonexistentID("ord")}), "too_many_subscriptions")
	requireAck(t, as.ask(map[string]any{"type": "unsubscribe", "channel": orderCh}))

	// Automatic dispatch with nobody near: started, failed at the
	// deadline, and the admins are told.
	req := e2e.ValidOrder()
	req["pickup"] = map[string]any{"address": "Sydney", "lat": -33.86, "lng": 151.2}
	req["dispatch"] = "auto"
	req["customer_id"] = cust.ID()
	var o2 wire.Order
	a.Admin.Post(t, "/v1/orders", req).Decode(t, http.StatusCreated, &o2)
	requireAck(t, as.ask(map[string]any{"type": "subscribe", "channel": "order:" + o2.ID, "since": 0}))
	as.event("order:"+o2.ID, "order.created")
	as.event("order:"+o2.ID, "order.dispatch_started")
	as.awaitFor(30*time.Second, "order.dispatch_failed", func(f frame) bool { return f.Event == "order.dispatch_failed" })
	as.event(userCh(a.Admin), "notification.created")
	requireAck(t, as.ask(map[string]any{"type": "unsubscribe", "channel": "order:" + o2.ID}))

	// An erased customer's order is redacted before its watchers' eyes.
	gone := a.Signup(t)
	o3 := gone.CreateOrder(t)
	gone.SetStatus(t, o3.ID, "cancelled")
	requireAck(t, as.ask(map[string]any{"type": "subscribe", "channel": "order:" + o3.ID}))
	a.Admin.Delete(t, "/v1/users/"+gone.ID()).RequireStatus(t, http.StatusNoContent)
	as.event("order:"+o3.ID, "order.redacted")

	// A batch on the ?batch=1 session: frames queued together. Pings
	// answered back to back queue up while the writer runs.
	e2e.Eventually(t, 20*time.Second, func() bool {
		for range 50 {
			as.send(map[string]any{"type": "ping"})
		}
		for range 50 {
			as.await("pong", func(f frame) bool { return f.Type == "pong" })
		}
		return as.batchCount() > 0
	}, "no batch on the batch=1 session")

	// The timelines of those orders are typed as the document says (the
	// client validates every answer against openapi.json).
	var events []string
	for _, id := range []string{o.ID, o2.ID, o3.ID} {
		for _, e := range a.Admin.Timeline(t, id) {
			events = append(events, e.Metadata["event"])
		}
	}
	for _, want := range []string{"order.created", "order.assigned", "order.declined", "order.unassigned", "order.offer_expired",
		"order.accepted", "order.status_changed", "order.proof_added", "order.payment_changed", "order.dispatch_started", "order.dispatch_failed"} {
		require.Contains(t, events, want)
	}

	// Every frame conformed, and every message and code was seen.
	l.check(t)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range append(l.frames.ClientMessages(), l.frames.ServerMessages()...) {
		require.Positive(t, l.seen[m], "message %s of the document was never sent or received", m)
	}
	codes := l.frames.ErrorCodes()
	for code, why := range notProvoked {
		require.Contains(t, codes, code, "notProvoked lists %s, which the document does not (%s)", code, why)
	}
	for _, code := range codes {
		if _, ok := notProvoked[code]; !ok {
			require.Positive(t, l.codes[code], "error code %s of the document was never provoked", code)
		}
	}
	for code := range l.codes {
		require.True(t, slices.Contains(codes, code), "error code %s is not in the document", code)
	}
}

func requireAck(t *testing.T, f frame) {
	t.Helper()
	require.Equal(t, "ack", f.Type, "%s", f.Raw)
}

func requireError(t *testing.T, f frame, code string) {
	t.Helper()
	require.Equal(t, "error", f.Type, "%s", f.Raw)
	require.Equal(t, code, f.Code, "%s", f.Raw)
}

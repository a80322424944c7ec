package ws

import (
	"fmt"

	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/wire"
)

// Watches: the realtime path for HTTP handlers that stream one order
// (the tracking link's Server-Sent Events, transport/httpapi). A watch
// rides the hub's bus subscriptions — the order channel's and the feed of
// the driver the order occupies — beside the WebSocket subscriptions to
// the same order or driver, so a thousand browsers tracking one order
// cost the node one subscription to the order's events and one to its
// driver's positions. The events come from the bus whichever node wrote
// them.
//
// A watch sees events as the bus delivers them, without the journal
// replay of a WebSocket subscription: a watcher that must not miss a
// state re-reads the order on each event (the event says only that the
// order moved, and which seq it reached), which also makes up for an
// event the bus lost once the next one comes.

// orderWatch is one handler's watch of one order. driver and version are
// guarded by hub.mu; the callbacks are the handler's and never block.
type orderWatch struct {
	h       *hub
	orderID string
	onEvent func(seq int64)
	onFix   func(wire.Fix)

	driver  string // the driver whose feed the watch is in, "" none
	version int64  // the order version driver was set at
	stopped bool
}

// WatchOrder calls onEvent with the seq of each event of orderID the bus
// delivers from now on (from whichever node wrote it), and onFix with
// each live position of the driver the order occupies (assigned, accepted,
// picked up, in transit), until stop is called. The bus subscription is
// active when WatchOrder returns, so a read of the order made afterwards
// misses nothing: every later event reaches onEvent.
//
// The watch follows the driver each event names; follow sets the driver
// from a read of the order at version (driverID "" follows nobody), and
// is ignored when an event newer than version already set it. A caller
// that read the order after WatchOrder returned calls follow once with
// what it read. The callbacks run on the bus's goroutines (onEvent in
// the order's publish order): they must hand over and return, never
// block. stop may be called more than once; a callback the bus had
// already started may still run just after it returns.
func (g *Gateway) WatchOrder(orderID string, onEvent func(seq int64), onFix func(wire.Fix)) (follow func(driverID string, version int64), stop func(), err error) {
	w := &orderWatch{h: g.hub, orderID: orderID, onEvent: onEvent, onFix: onFix}
	if err := g.hub.addWatch(w); err != nil {
		return nil, nil, err
	}
	return w.follow, w.stop, nil
}

// addWatch puts w in its order's channel, subscribing on the bus if the
// node had nobody watching that order.
func (h *hub) addWatch(w *orderWatch) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, err := h.orderChannelLocked(w.orderID)
	if err != nil {
		return fmt.Errorf("watch order %s: %w", w.orderID, err)
	}
	ch.watches[w] = struct{}{}
	return nil
}

// event takes an order event from the bus: follow the driver it leaves
// the order with, then tell the watcher.
func (w *orderWatch) event(p order.Published) {
	driver := ""
	if order.HoldsDriver(p.Order.Status) {
		driver = p.Order.Driver()
	}
	w.follow(driver, p.Seq)
	w.onEvent(p.Seq)
}

// follow moves w to driverID's feed, unless a newer version set it.
func (w *orderWatch) follow(driverID string, version int64) {
	h := w.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.stopped || version < w.version {
		return
	}
	w.version = version
	if driverID == w.driver {
		return
	}
	h.leaveFeedLocked(w)
	if driverID == "" {
		return
	}
	f, err := h.feedLocked(driverID)
	if err != nil {
		h.log.Warn("cannot follow driver positions", "driver", driverID, "order", w.orderID, "err", err)
		return
	}
	f.watches[w] = struct{}{}
	w.driver = driverID
}

// leaveFeedLocked takes w out of its driver's feed; called with h.mu held.
func (h *hub) leaveFeedLocked(w *orderWatch) {
	if f, ok := h.feeds[w.driver]; ok && w.driver != "" {
		delete(f.watches, w)
		h.dropFeedLocked(w.driver, f)
	}
	w.driver = ""
}

// stop ends the watch; the last watcher of the order or of the driver
// ends that bus subscription.
func (w *orderWatch) stop() {
	h := w.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.stopped {
		return
	}
	w.stopped = true
	h.leaveFeedLocked(w)
	name := "order:" + w.orderID
	if ch, ok := h.channels[name]; ok {
		delete(ch.watches, w)
		h.dropChannelLocked(name, ch)
	}
}

// watchesOf copies c's watches; called with h.mu held.
func watchesOf(c *channel) []*orderWatch {
	if len(c.watches) == 0 {
		return nil
	}
	out := make([]*orderWatch, 0, len(c.watches))
	for w := range c.watches {
		out = append(out, w)
	}
	return out
}

package ws

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/wire"
)

// hub keeps one bus subscription per channel this node's sessions watch.
type hub struct {
	bus     Bus
	drivers Orders // the driver read model, for the fleet channel
	log     *slog.Logger
	metrics *metrics

	mu       sync.Mutex
	channels map[string]*channel
	// Live driver positions: one bus subscription per driver followed by
	// some order subscription on this node. following is the driver each
	// subscription follows (hub-owned, so hub.mu alone guards it).
	feeds     map[string]*channel
	following map[*subscription]string
	// jobs: one bus subscription per driver with a session on this node
	// (jobs.go).
	jobs map[string]*jobFeed
	// fleet: the `fleet` channel's watchers and feed while this node has
	// any (fleet.go); nil otherwise.
	fleet *fleet
	// orders: the `orders` channel's watchers and bus subscription while
	// this node has any (orders.go); nil otherwise.
	orders *channel
}

type channel struct {
	stop     func()
	watchers map[*subscription]struct{}
	// watches are the HTTP handlers' watches of the order or the driver
	// (watch.go): they share the channel's bus subscription.
	watches map[*orderWatch]struct{}
}

// idle reports whether nobody watches the channel any more (its bus
// subscription may end).
func (c *channel) idle() bool { return len(c.watchers) == 0 && len(c.watches) == 0 }

func newHub(bus Bus, orders Orders, log *slog.Logger, m *metrics) *hub {
	return &hub{bus: bus, drivers: orders, log: log, metrics: m, channels: map[string]*channel{},
		feeds: map[string]*channel{}, following: map[*subscription]string{}, jobs: map[string]*jobFeed{}}
}

// watch adds sub to its channel, subscribing on the bus if it is the
// channel's first watcher on this node. The bus subscription is active
// when watch returns.
func (h *hub) watch(sub *subscription) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, err := h.orderChannelLocked(sub.orderID)
	if err != nil {
		return err
	}
	ch.watchers[sub] = struct{}{}
	return nil
}

// orderChannelLocked is the channel of orderID's events, subscribed on
// the bus if this node had none; called with h.mu held.
func (h *hub) orderChannelLocked(orderID string) (*channel, error) {
	name := "order:" + orderID
	if ch, ok := h.channels[name]; ok {
		return ch, nil
	}
	stop, err := h.bus.Subscribe(wire.OrderSubject(orderID), func(data []byte) { h.dispatch(name, data) })
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", name, err)
	}
	ch := &channel{stop: stop, watchers: map[*subscription]struct{}{}, watches: map[*orderWatch]struct{}{}}
	h.channels[name] = ch
	h.metrics.channels.Inc()
	return ch, nil
}

// dropChannelLocked ends the bus subscription of the order channel name
// if nobody watches it any more; called with h.mu held.
func (h *hub) dropChannelLocked(name string, ch *channel) {
	if ch.idle() {
		ch.stop()
		delete(h.channels, name)
		h.metrics.channels.Dec()
	}
}

// unwatch removes sub; the last watcher of a channel ends its bus
// subscription.
func (h *hub) unwatch(sub *subscription) {
	switch sub.channel {
	case FleetChannel:
		h.unwatchFleet(sub)
		return
	case OrdersChannel:
		h.unwatchOrders(sub)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.channels[sub.channel]
	if !ok {
		return
	}
	delete(ch.watchers, sub)
	h.dropChannelLocked(sub.channel, ch)
	h.followLocked(sub, "")
}

// follow makes sub receive driverID's live positions ("" stops), leaving
// the driver it followed before.
func (h *hub) follow(sub *subscription, driverID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.followLocked(sub, driverID)
}

func (h *hub) followLocked(sub *subscription, driverID string) {
	old := h.following[sub]
	if old == driverID {
		return
	}
	if f, ok := h.feeds[old]; ok && old != "" {
		delete(f.watchers, sub)
		h.dropFeedLocked(old, f)
	}
	delete(h.following, sub)
	if driverID == "" {
		return
	}
	f, err := h.feedLocked(driverID)
	if err != nil {
		h.log.Warn("cannot follow driver positions", "driver", driverID, "err", err)
		return
	}
	f.watchers[sub] = struct{}{}
	h.following[sub] = driverID
}

// feedLocked is driverID's feed of live positions, subscribed on the bus
// if this node had none; called with h.mu held.
func (h *hub) feedLocked(driverID string) (*channel, error) {
	if f, ok := h.feeds[driverID]; ok {
		return f, nil
	}
	stop, err := h.bus.Subscribe(wire.LocationSubject(driverID), func(data []byte) { h.dispatchFix(driverID, data) })
	if err != nil {
		return nil, err
	}
	f := &channel{stop: stop, watchers: map[*subscription]struct{}{}, watches: map[*orderWatch]struct{}{}}
	h.feeds[driverID] = f
	return f, nil
}

// dropFeedLocked ends driverID's feed if nobody follows him any more;
// called with h.mu held.
func (h *hub) dropFeedLocked(driverID string, f *channel) {
	if f.idle() {
		f.stop()
		delete(h.feeds, driverID)
	}
}

// dispatchFix hands a driver's live position to the subscriptions of the
// orders that driver holds.
func (h *hub) dispatchFix(driverID string, data []byte) {
	var p wire.Fix
	if err := json.Unmarshal(data, &p); err != nil || p.DriverID != driverID {
		return
	}
	h.mu.Lock()
	f := h.feeds[driverID]
	var watchers []*subscription
	var watches []*orderWatch
	if f != nil {
		watchers = make([]*subscription, 0, len(f.watchers))
		for w := range f.watchers {
			watchers = append(watchers, w)
		}
		watches = watchesOf(f)
	}
	h.mu.Unlock()
	for _, w := range watches {
		w.onFix(p)
	}
	// Encode once per channel, not once per watcher.
	frames := map[string][]byte{}
	for _, w := range watchers {
		f, ok := frames[w.channel]
		if !ok {
			f = locationFrame(w.channel, p)
			frames[w.channel] = f
		}
		w.deliverFix(f)
	}
}

// dispatch encodes a bus message into a frame once and hands it to every
// watcher of the channel.
func (h *hub) dispatch(name string, data []byte) {
	var p order.Published
	if err := json.Unmarshal(data, &p); err != nil {
		h.log.Warn("undecodable bus message", "channel", name, "err", err)
		return
	}
	h.mu.Lock()
	ch := h.channels[name]
	var watchers []*subscription
	var watches []*orderWatch
	if ch != nil {
		watchers = make([]*subscription, 0, len(ch.watchers))
		for w := range ch.watchers {
			watchers = append(watchers, w)
		}
		watches = watchesOf(ch)
	}
	h.mu.Unlock()
	for _, w := range watches {
		w.event(p)
	}
	if len(watchers) == 0 {
		return
	}
	ev, err := eventFrame(p)
	if err != nil {
		h.log.Warn("unencodable event", "channel", name, "err", err)
		return
	}
	for _, w := range watchers {
		w.deliver(ev)
	}
}

// eventFrame is the server → client frame of a published order event:
// {"type":"event","channel","seq","event","data":{"order","by"},"at"}.
func eventFrame(p order.Published) (*event, error) {
	frame, err := eventJSON("order:"+p.OrderID, p)
	if err != nil {
		return nil, err
	}
	return &event{seq: p.Seq, frame: frame, customerID: p.Order.CustomerID, driverID: p.Order.Driver(),
		holds: order.HoldsDriver(p.Order.Status)}, nil
}

// eventJSON is the event frame of p on channel.
func eventJSON(channel string, p order.Published) ([]byte, error) {
	return json.Marshal(struct {
		Type    string `json:"type"`
		Channel string `json:"channel"`
		Seq     int64  `json:"seq"`
		Event   string `json:"event"`
		Data    any    `json:"data"`
		At      string `json:"at"`
	}{"event", channel, p.Seq, p.Type, struct {
		Order any     `json:"order"`
		By    wire.By `json:"by"`
	}{p.Order, p.By}, p.At})
}

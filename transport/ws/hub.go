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
}

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
	ch, ok := h.channels[sub.channel]
	if !ok {
		ch = &channel{watchers: map[*subscription]struct{}{}}
		name := sub.channel
		stop, err := h.bus.Subscribe(wire.OrderSubject(sub.orderID), func(data []byte) { h.dispatch(name, data) })
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", name, err)
		}
		ch.stop = stop
		h.channels[sub.channel] = ch
		h.metrics.channels.Inc()
	}
	ch.watchers[sub] = struct{}{}
	return nil
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
	if len(ch.watchers) == 0 {
		ch.stop()
		delete(h.channels, sub.channel)
		h.metrics.channels.Dec()
	}
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
		if len(f.watchers) == 0 {
			f.stop()
			delete(h.feeds, old)
		}
	}
	delete(h.following, sub)
	if driverID == "" {
		return
	}
	f, ok := h.feeds[driverID]
	if !ok {
		stop, err := h.bus.Subscribe(wire.LocationSubject(driverID), func(data []byte) { h.dispatchFix(driverID, data) })
		if err != nil {
			h.log.Warn("cannot follow driver positions", "driver", driverID, "err", err)
			return
		}
		f = &channel{stop: stop, watchers: map[*subscription]struct{}{}}
		h.feeds[driverID] = f
	}
	f.watchers[sub] = struct{}{}
	h.following[sub] = driverID
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
	if f != nil {
		watchers = make([]*subscription, 0, len(f.watchers))
		for w := range f.watchers {
			watchers = append(watchers, w)
		}
	}
	h.mu.Unlock()
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
	ev, err := eventFrame(p)
	if err != nil {
		h.log.Warn("unencodable event", "channel", name, "err", err)
		return
	}
	h.mu.Lock()
	ch := h.channels[name]
	var watchers []*subscription
	if ch != nil {
		watchers = make([]*subscription, 0, len(ch.watchers))
		for w := range ch.watchers {
			watchers = append(watchers, w)
		}
	}
	h.mu.Unlock()
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

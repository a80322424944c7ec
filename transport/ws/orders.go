package ws

import (
	"encoding/json"
	"fmt"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/wire"
)

// The `orders` channel: admins watch every order's events, as the
// order's own channel carries them but all on one channel, so that a
// dispatcher's board learns of a new order, and of every change, from
// one subscription. Each frame is the order channel's event frame with
// channel "orders"; its seq is the order's own (an order's events come in
// seq order, different orders' interleave). It is live only, like fleet:
// no since — read GET /v1/orders, subscribe, and keep the newest version
// of each order (an event's data.order.version is its seq). One bus
// subscription to every order's events per node while it has watchers.

// OrdersChannel is the name of the admins' channel of every order.
const OrdersChannel = "orders"

func (s *session) subscribeOrders(f clientFrame) {
	existing, ok := s.admitAdminChannel(f, "orders takes no since: read GET /v1/orders, then follow the channel", "")
	if !ok {
		return
	}
	if existing != nil {
		s.ack(f.ID)
		return
	}
	sub := &subscription{s: s, channel: OrdersChannel}
	if err := s.g.hub.watchOrders(sub); err != nil {
		s.g.log.Warn("orders channel", "err", err)
		s.sendError(f.ID, problem.Unavailable, "could not subscribe; retry")
		return
	}
	s.addSub(sub)
	s.ack(f.ID)
}

// admitAdminChannel makes the checks the admins' live channels (fleet,
// orders) share, in the order a client is told of them: an admin's, no
// since (sinceMsg says why), nothing invalid (invalid, "" if not), within
// MaxSubscriptions. ok is false when it answered with an error; existing
// is the session's live subscription to the channel, if it has one.
func (s *session) admitAdminChannel(f clientFrame, sinceMsg, invalid string) (existing *subscription, ok bool) {
	switch {
	case s.role != actors.RoleAdmin:
		s.sendError(f.ID, problem.Forbidden, "you may not watch "+quote(f.Channel))
		return nil, false
	case f.Since != nil:
		s.sendError(f.ID, problem.ValidationFailed, sinceMsg)
		return nil, false
	case invalid != "":
		s.sendError(f.ID, problem.ValidationFailed, invalid)
		return nil, false
	}
	s.dropEnded()
	if sub, dup := s.subs[f.Channel]; dup {
		return sub, true
	}
	if len(s.subs) >= s.g.cfg.MaxSubscriptions {
		s.sendError(f.ID, problem.TooManySubscriptions, "unsubscribe from something first")
		return nil, false
	}
	return nil, true
}

// watchOrders adds sub to the orders channel's watchers; the first one
// subscribes the node to every order's events.
func (h *hub) watchOrders(sub *subscription) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.orders == nil {
		stop, err := h.bus.Subscribe(wire.OrderEvents, h.ordersEvent)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", wire.OrderEvents, err)
		}
		h.orders = &channel{stop: stop, watchers: map[*subscription]struct{}{}}
		h.metrics.channels.Inc()
	}
	h.orders.watchers[sub] = struct{}{}
	return nil
}

// unwatchOrders removes sub; the last watcher ends the bus subscription.
func (h *hub) unwatchOrders(sub *subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.orders == nil {
		return
	}
	delete(h.orders.watchers, sub)
	if len(h.orders.watchers) == 0 {
		h.orders.stop()
		h.orders = nil
		h.metrics.channels.Dec()
	}
}

// ordersEvent hands an order event to every watcher of the orders channel.
func (h *hub) ordersEvent(data []byte) {
	var p order.Published
	if err := json.Unmarshal(data, &p); err != nil {
		h.log.Warn("undecodable bus message", "channel", OrdersChannel, "err", err)
		return
	}
	frame, err := eventJSON(OrdersChannel, p)
	if err != nil {
		h.log.Warn("unencodable event", "channel", OrdersChannel, "err", err)
		return
	}
	h.mu.Lock()
	var watchers []*subscription
	if h.orders != nil {
		watchers = make([]*subscription, 0, len(h.orders.watchers))
		for w := range h.orders.watchers {
			watchers = append(watchers, w)
		}
	}
	h.mu.Unlock()
	for _, w := range watchers {
		w.deliverFix(frame)
	}
}

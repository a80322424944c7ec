package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/wire"
)

// The `fleet` channel (DESIGN.md §4): admins watch every driver. On
// subscribe the session gets the ack, then one `driver` frame per driver
// from the read model; live frames may interleave with that snapshot
// (the watcher is registered before the read, so nothing is missed), and
// every frame carries its time (`at`, `ts`) for the client to keep the
// newest. Live positions come from one bus subscription per node to
// wire.LocationsAll while the node has a fleet watcher, coalesced per
// driver and sent on one node-wide tick (FleetInterval).

// FleetChannel is the name of the admins' channel of every driver.
const FleetChannel = "fleet"

// FleetInterval is how often a node sends the fleet watchers the newest
// position of each driver that moved: at most one location frame per
// driver per interval.
const FleetInterval = time.Second

// fleetPage is how many drivers a snapshot reads at a time.
const fleetPage = 100

// fleet is the hub's state of the fleet channel, guarded by hub.mu.
type fleet struct {
	watchers map[*subscription]struct{}
	stop     func()            // the bus subscription to wire.LocationsAll
	tick     chan struct{}     // closed to stop the ticker
	newest   map[string][]byte // driver → frame of his newest fix since the last tick
}

func (s *session) subscribeFleet(f clientFrame) {
	if s.role != actors.RoleAdmin {
		s.sendError(f.ID, problem.Forbidden, "you may not watch "+quote(f.Channel))
		return
	}
	if f.Since != nil {
		s.sendError(f.ID, problem.ValidationFailed, "fleet takes no since: it starts with a snapshot")
		return
	}
	if _, dup := s.subs[f.Channel]; dup {
		s.ack(f.ID)
		return
	}
	if len(s.subs) >= s.g.cfg.MaxSubscriptions {
		s.sendError(f.ID, problem.TooManySubscriptions, "unsubscribe from something first")
		return
	}
	sub := &subscription{s: s, channel: FleetChannel}
	if err := s.g.hub.watchFleet(sub); err != nil {
		s.sendError(f.ID, problem.Unavailable, "could not subscribe; retry")
		return
	}
	if s.subs == nil {
		s.subs = map[string]*subscription{}
	}
	s.subs[f.Channel] = sub
	s.ack(f.ID)
	go sub.fleetSnapshot()
}

// fleetSnapshot sends one driver frame per driver, page by page; it waits
// for the send queue to drain below half before each page, so a large
// fleet does not trip the slow-consumer limit.
func (sub *subscription) fleetSnapshot() {
	s := sub.s
	after := ""
	for {
		if !s.waitRoom(fleetPage) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ds, more, err := s.g.orders.ListDrivers(ctx, persistence.DriverFilter{Limit: fleetPage, After: after})
		cancel()
		if err != nil {
			s.g.log.Warn("fleet snapshot", "err", err)
			s.close(CloseInternalError, "could not read the fleet; reconnect and subscribe again")
			return
		}
		for _, d := range ds {
			sub.deliverFix(driverFrame(driverState(d)))
		}
		if !more || len(ds) == 0 {
			return
		}
		after = ds[len(ds)-1].ID
	}
}

// waitRoom waits until the send queue has room for n more frames (or half
// of it is free) and at most half its bytes are taken; false if the
// session closed or the client did not read within WriteTimeout.
func (s *session) waitRoom(n int) bool {
	deadline := time.Now().Add(s.g.cfg.WriteTimeout)
	for {
		s.mu.Lock()
		closing, queued, bytes := s.closeCode != 0, len(s.queue), s.queued
		s.mu.Unlock()
		switch {
		case closing:
			return false
		case (queued+n <= s.g.cfg.SendQueueSize || queued <= s.g.cfg.SendQueueSize/2) &&
			bytes <= s.g.cfg.SendQueueBytes/2:
			return true
		case time.Now().After(deadline):
			s.g.metrics.slow.Inc()
			s.close(CloseSlowConsumer, "send queue full: read faster, then reconnect and resume")
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func driverState(d persistence.Driver) wire.DriverState {
	st := wire.DriverState{DriverID: d.ID, Status: d.Status, Available: d.Available, Capacity: d.Capacity,
		ActiveOrders: d.ActiveOrders}
	if l := d.LastLocation; l != nil {
		lat, lng := l.Lat, l.Lng
		st.Lat, st.Lng, st.At = &lat, &lng, wire.Timestamp(l.At)
	}
	return st
}

// driverFrame is {"type":"driver","channel":"fleet", wire.DriverState…}.
func driverFrame(st wire.DriverState) []byte {
	b, _ := json.Marshal(struct {
		Type    string `json:"type"`
		Channel string `json:"channel"`
		wire.DriverState
	}{"driver", FleetChannel, st})
	return b
}

// watchFleet adds sub to the fleet's watchers; the first one subscribes
// the node to every driver's fixes and starts the tick.
func (h *hub) watchFleet(sub *subscription) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fleet == nil {
		stop, err := h.bus.Subscribe(wire.LocationsAll, h.fleetFix)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", wire.LocationsAll, err)
		}
		stopState, err := h.bus.Subscribe(wire.FleetDrivers, h.fleetState)
		if err != nil {
			stop()
			return fmt.Errorf("subscribe %s: %w", wire.FleetDrivers, err)
		}
		f := &fleet{watchers: map[*subscription]struct{}{}, tick: make(chan struct{}), newest: map[string][]byte{},
			stop: func() { stop(); stopState() }}
		h.fleet = f
		h.metrics.channels.Inc()
		go h.fleetTicker(f)
	}
	h.fleet.watchers[sub] = struct{}{}
	return nil
}

// unwatchFleet removes sub; the last watcher ends the bus subscriptions
// and the tick.
func (h *hub) unwatchFleet(sub *subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.fleet
	if f == nil {
		return
	}
	delete(f.watchers, sub)
	if len(f.watchers) == 0 {
		f.stop()
		close(f.tick)
		h.fleet = nil
		h.metrics.channels.Dec()
	}
}

// fleetFix keeps a driver's newest fix for the next tick.
func (h *hub) fleetFix(data []byte) {
	var p wire.Fix
	if err := json.Unmarshal(data, &p); err != nil || p.DriverID == "" {
		return
	}
	frame := locationFrame(FleetChannel, p)
	h.mu.Lock()
	if h.fleet != nil {
		h.fleet.newest[p.DriverID] = frame
	}
	h.mu.Unlock()
}

// fleetState forwards a driver's committed availability or capacity
// change at once (they are rare; positions are what needs coalescing),
// as the driver's read-model row: the actor's message lacks his active
// orders and status, and the commit that caused it has written the row.
func (h *hub) fleetState(data []byte) {
	var st wire.DriverState
	if err := json.Unmarshal(data, &st); err != nil || st.DriverID == "" {
		return
	}
	watchers := h.fleetWatchers(nil)
	if len(watchers) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	d, err := h.drivers.GetDriver(ctx, st.DriverID)
	cancel()
	if err != nil {
		h.log.Warn("fleet: read a changed driver", "driver", st.DriverID, "err", err)
		return
	}
	frame := driverFrame(driverState(d))
	for _, w := range watchers {
		w.deliverFix(frame)
	}
}

// fleetWatchers copies f's watchers (the current fleet's if f is nil);
// none once f has ended.
func (h *hub) fleetWatchers(f *fleet) []*subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f == nil {
		f = h.fleet
	}
	if f == nil || h.fleet != f {
		return nil
	}
	out := make([]*subscription, 0, len(f.watchers))
	for w := range f.watchers {
		out = append(out, w)
	}
	return out
}

// fleetTicker sends, once per FleetInterval, each driver's newest fix
// since the last tick to every fleet watcher; one ticker per node.
func (h *hub) fleetTicker(f *fleet) {
	t := time.NewTicker(FleetInterval)
	defer t.Stop()
	for {
		select {
		case <-f.tick:
			return
		case <-t.C:
		}
		h.mu.Lock()
		frames := f.newest
		if len(frames) == 0 {
			h.mu.Unlock()
			continue
		}
		f.newest = map[string][]byte{}
		h.mu.Unlock()
		watchers := h.fleetWatchers(f)
		for _, frame := range frames {
			for _, w := range watchers {
				w.deliverFix(frame)
			}
		}
	}
}

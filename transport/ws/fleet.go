package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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
	stop     func()               // the bus subscription to wire.LocationsAll
	tick     chan struct{}        // closed to stop the ticker
	newest   map[string]fleetMove // driver → his newest fix since the last tick
	// known is every driver's last position and state, for viewport
	// watchers (viewport.go): nil until the first of them subscribes,
	// then kept from the read model (seeded closes when it is read in)
	// and the fixes and state changes below.
	known  map[string]*fleetDriver
	seeded chan struct{}
}

// fleetMove is a driver's newest fix: its location frame and position.
type fleetMove struct {
	frame    []byte
	lat, lng float64
	ts       string
}

// fleetDriver is what a node knows of a driver for viewport watchers.
type fleetDriver struct {
	state  wire.DriverState // valid when stated
	stated bool
	frame  []byte // his last location frame, if placed by a fix
	placed bool   // lat, lng and at known
	lat    float64
	lng    float64
	at     string
}

// driverFrame is the driver's `driver` frame (nil when his state is not
// known), at his newest position.
func (d *fleetDriver) driverFrame() []byte {
	if !d.stated {
		return nil
	}
	return driverFrame(d.state)
}

func (s *session) subscribeFleet(f clientFrame) {
	invalid := ""
	if f.Viewport != nil {
		invalid = f.Viewport.check()
	}
	existing, ok := s.admitAdminChannel(f, "fleet takes no since: it starts with a snapshot", invalid)
	if !ok {
		return
	}
	if existing != nil {
		if f.Viewport != nil {
			s.changeViewport(f.ID, existing, f.Viewport)
			return
		}
		s.ack(f.ID)
		return
	}
	sub := &subscription{s: s, channel: FleetChannel}
	if f.Viewport != nil {
		sub.view.Store(f.Viewport)
	}
	if err := s.g.hub.watchFleet(sub); err != nil {
		s.sendError(f.ID, problem.Unavailable, "could not subscribe; retry")
		return
	}
	s.addSub(sub)
	s.ack(f.ID)
	if f.Viewport != nil {
		go sub.viewportSnapshot(nil, f.Viewport)
		return
	}
	go sub.fleetSnapshot()
}

// viewport handles {"type":"viewport","channel":"fleet","viewport":{…}}:
// the map moved.
func (s *session) viewport(f clientFrame) {
	sub := s.subs[FleetChannel]
	switch {
	case f.Channel != FleetChannel:
		s.sendError(f.ID, problem.ValidationFailed, "only the fleet channel takes a viewport")
	case f.Viewport == nil:
		s.sendError(f.ID, problem.ValidationFailed, "viewport is required")
	case sub == nil:
		s.sendError(f.ID, problem.ValidationFailed, "subscribe to fleet first")
	default:
		if msg := f.Viewport.check(); msg != "" {
			s.sendError(f.ID, problem.ValidationFailed, msg)
			return
		}
		s.changeViewport(f.ID, sub, f.Viewport)
	}
}

// changeViewport makes v sub's viewport, acks, and sends the drivers
// that v shows and the old one did not; the cells follow on the next
// tick.
func (s *session) changeViewport(id string, sub *subscription, v *viewport) {
	old := sub.view.Swap(v)
	s.g.hub.seedFleet()
	sub.mu.Lock()
	sub.lastCells = nil
	sub.mu.Unlock()
	s.ack(id)
	go sub.viewportSnapshot(old, v)
}

// viewportSnapshot sends the drivers inside v that were not inside old
// (every driver inside v when old is nil), page by page like
// fleetSnapshot, once the node knows the fleet: a `driver` frame each, or
// the last location frame of a driver whose state is not known yet.
func (sub *subscription) viewportSnapshot(old, v *viewport) {
	s := sub.s
	f := s.g.hub.seedFleet()
	if f == nil {
		return
	}
	select {
	case <-f.seeded:
	case <-f.tick:
		return
	}
	var frames [][]byte
	s.g.hub.mu.Lock()
	for _, d := range f.known {
		if !d.placed || !v.contains(d.lat, d.lng) || (old != nil && old.contains(d.lat, d.lng)) {
			continue
		}
		if b := d.driverFrame(); b != nil {
			frames = append(frames, b)
		} else if d.frame != nil {
			frames = append(frames, d.frame)
		}
	}
	s.g.hub.mu.Unlock()
	for len(frames) > 0 && sub.view.Load() == v { // else moved again: that snapshot covers it
		n := min(fleetPage, len(frames))
		if !sub.sendPaced(frames[:n]) {
			return
		}
		frames = frames[n:]
	}
}

// sendPaced sends frames in order as the send queue takes them, waiting
// for room (waitRoom) when it is full; false once the subscription or the
// session ended.
func (sub *subscription) sendPaced(frames [][]byte) bool {
	for len(frames) > 0 {
		if !sub.s.waitRoom(1) {
			return false
		}
		sub.mu.Lock()
		if sub.closed {
			sub.mu.Unlock()
			return false
		}
		for len(frames) > 0 && sub.s.trySend(frames[0]) {
			frames = frames[1:]
		}
		sub.mu.Unlock()
	}
	return true
}

// fleetSnapshot sends one driver frame per driver, page by page, as the
// send queue takes them (sendPaced), so a large fleet does not trip the
// slow-consumer limit.
func (sub *subscription) fleetSnapshot() {
	s := sub.s
	after := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ds, more, err := s.g.orders.ListDrivers(ctx, persistence.DriverFilter{Limit: fleetPage, After: after})
		cancel()
		if err != nil {
			s.g.log.Warn("fleet snapshot", "err", err)
			s.close(CloseInternalError, "could not read the fleet; reconnect and subscribe again")
			return
		}
		frames := make([][]byte, len(ds))
		for i, d := range ds {
			frames[i] = driverFrame(driverState(d))
		}
		if !sub.sendPaced(frames) || !more || len(ds) == 0 {
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
		f := &fleet{watchers: map[*subscription]struct{}{}, tick: make(chan struct{}), newest: map[string]fleetMove{},
			stop: func() { stop(); stopState() }}
		h.fleet = f
		h.metrics.channels.Inc()
		go h.fleetTicker(f)
	}
	h.fleet.watchers[sub] = struct{}{}
	return nil
}

// seedFleet makes the current fleet keep every driver's position and
// state for viewport watchers, reading the driver read model in once (in
// the background; f.seeded closes when done). It returns the fleet, nil
// if it has ended.
func (h *hub) seedFleet() *fleet {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.fleet
	if f == nil || f.known != nil {
		return f
	}
	f.known = map[string]*fleetDriver{}
	f.seeded = make(chan struct{})
	go h.readFleet(f)
	return f
}

// readFleet reads the driver read model into f.known. A driver already
// placed by a fix since keeps that newer position. A failed read is
// retried: viewport watchers wait for it.
func (h *hub) readFleet(f *fleet) {
	defer close(f.seeded)
	after := ""
	for failures := 0; ; {
		select {
		case <-f.tick:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ds, more, err := h.drivers.ListDrivers(ctx, persistence.DriverFilter{Limit: fleetSeedPage, After: after})
		cancel()
		if err != nil {
			failures++
			h.log.Warn("fleet: read the drivers for viewports", "err", err, "failures", failures)
			select {
			case <-f.tick:
				return
			case <-time.After(min(time.Duration(failures)*time.Second, 10*time.Second)):
			}
			continue
		}
		h.mu.Lock()
		for _, d := range ds {
			h.knowDriverLocked(f, driverState(d))
		}
		h.mu.Unlock()
		if !more || len(ds) == 0 {
			return
		}
		after = ds[len(ds)-1].ID
	}
}

// fleetSeedPage is how many drivers readFleet reads at a time.
const fleetSeedPage = 1000

// knowDriverLocked records st, a driver's read-model row, in f.known; a
// position from a fix stays (it is newer). Called with h.mu held.
func (h *hub) knowDriverLocked(f *fleet, st wire.DriverState) *fleetDriver {
	d := f.known[st.DriverID]
	if d == nil {
		d = &fleetDriver{}
		f.known[st.DriverID] = d
	}
	if d.placed {
		lat, lng := d.lat, d.lng
		st.Lat, st.Lng, st.At = &lat, &lng, d.at
	} else if st.Lat != nil && st.Lng != nil {
		d.placed, d.lat, d.lng, d.at = true, *st.Lat, *st.Lng, st.At
	}
	d.state, d.stated = st, true
	return d
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
	m := fleetMove{frame: locationFrame(FleetChannel, p), lat: p.Lat, lng: p.Lng,
		ts: wire.Timestamp(time.UnixMilli(p.TsMs))}
	h.mu.Lock()
	if h.fleet != nil {
		h.fleet.newest[p.DriverID] = m
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
	st = driverState(d)
	h.mu.Lock()
	if f := h.fleet; f != nil && f.known != nil {
		st = h.knowDriverLocked(f, st).state
	}
	h.mu.Unlock()
	frame := driverFrame(st)
	for _, w := range watchers {
		if v := w.view.Load(); v != nil && (st.Lat == nil || !v.contains(*st.Lat, *st.Lng)) {
			continue
		}
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
// since the last tick to every fleet watcher (to a viewport watcher: the
// ones inside his viewport, or just out of it, and the cells outside it);
// one ticker per node.
func (h *hub) fleetTicker(f *fleet) {
	t := time.NewTicker(FleetInterval)
	defer t.Stop()
	for {
		select {
		case <-f.tick:
			return
		case now := <-t.C:
			h.fleetTick(f, now)
		}
	}
}

// tickMove is a fleetMove with what the node knew of the driver before it.
type tickMove struct {
	fleetMove
	driverID       string
	was            bool // placed before
	wasLat, wasLng float64
	enter          []byte // his driver frame at the new position, if stated
}

func (h *hub) fleetTick(f *fleet, now time.Time) {
	watchers := h.fleetWatchers(f)
	zooms := map[int]map[tile]*cell{}
	for _, w := range watchers {
		if v := w.view.Load(); v != nil {
			zooms[v.cellZoom()] = nil
		}
	}
	h.mu.Lock()
	newest := f.newest
	f.newest = map[string]fleetMove{}
	seeded := false
	if f.known != nil {
		select {
		case <-f.seeded:
			seeded = true
		default:
		}
	}
	moves := make([]tickMove, 0, len(newest))
	for id, m := range newest {
		tm := tickMove{fleetMove: m, driverID: id}
		if f.known != nil {
			d := f.known[id]
			if d == nil {
				d = &fleetDriver{}
				f.known[id] = d
			}
			tm.was, tm.wasLat, tm.wasLng = d.placed, d.lat, d.lng
			d.placed, d.lat, d.lng, d.at, d.frame = true, m.lat, m.lng, m.ts, m.frame
			if d.stated {
				lat, lng := m.lat, m.lng
				d.state.Lat, d.state.Lng, d.state.At = &lat, &lng, m.ts
				tm.enter = d.driverFrame()
			}
		}
		moves = append(moves, tm)
	}
	if seeded {
		for z := range zooms {
			zooms[z] = cellCounts(f.known, z)
		}
	}
	h.mu.Unlock()
	for _, w := range watchers {
		v := w.view.Load()
		if v == nil {
			w.queueFleet(moves)
			continue
		}
		for _, m := range moves {
			in, was := v.contains(m.lat, m.lng), m.was && v.contains(m.wasLat, m.wasLng)
			switch {
			case in && !was && m.enter != nil:
				w.deliverFix(m.enter)
			case in || was:
				w.deliverFix(m.frame)
			}
		}
		if counts := zooms[v.cellZoom()]; counts != nil {
			w.deliverCells(v, v.cellZoom(), cellsJSON(v, v.cellZoom(), counts), now)
		}
	}
}

// queueFleet hands a whole-fleet watcher the tick's positions through
// its pending set: one frame per driver, a newer position replacing one
// not yet sent, drained by pumpFleet as the send queue has room. A tick of a large fleet (a frame per driver that moved: 18,000
// at once at 18,000 drivers) would otherwise overflow the send queue of
// a client that reads as fast as it can; a client that falls behind gets
// each driver's newest position rather than every one, and one that
// stops reading is cut off by waitRoom after WriteTimeout.
func (sub *subscription) queueFleet(moves []tickMove) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed {
		return
	}
	if sub.fleetPending == nil {
		sub.fleetPending = make(map[string][]byte, len(moves))
	}
	for _, m := range moves {
		sub.fleetPending[m.driverID] = m.frame
	}
	if !sub.pumping && len(sub.fleetPending) > 0 {
		sub.pumping = true
		go sub.pumpFleet()
	}
}

// pumpFleet sends the pending positions as the send queue takes them,
// waiting for it to drain to half when full; it ends when none are left.
func (sub *subscription) pumpFleet() {
	for {
		if !sub.s.waitRoom(1) {
			sub.mu.Lock()
			sub.pumping, sub.fleetPending = false, nil
			sub.mu.Unlock()
			return
		}
		sub.mu.Lock()
		if sub.closed || len(sub.fleetPending) == 0 {
			sub.pumping, sub.fleetPending = false, nil
			sub.mu.Unlock()
			return
		}
		for id, f := range sub.fleetPending {
			if !sub.s.trySend(f) {
				break
			}
			delete(sub.fleetPending, id)
		}
		sub.mu.Unlock()
	}
}

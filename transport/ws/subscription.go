package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
)

// event is one order event ready to send: its seq, the frame, and who may
// see the order after it (for the re-check when the driver changes).
type event struct {
	seq        int64
	frame      []byte
	customerID string
	driverID   string
	holds      bool // the order occupies its driver (positions are shown)
}

// subscription is one session watching one order channel. It delivers
// each seq once and in order: repeats are dropped, and a gap (or a
// `since` resume) is filled from the journal before live events resume.
type subscription struct {
	s       *session
	channel string
	orderID string

	// authorised is the order's version when the watcher's access was
	// checked: the events up to it are history the watcher may read (as
	// GET /v1/orders/:id/timeline shows it); a later event that takes the
	// order from the watcher ends the subscription.
	authorised int64

	// view is a fleet watcher's viewport (viewport.go); nil shows the
	// whole fleet.
	view atomic.Pointer[viewport]

	mu        sync.Mutex
	lastCells []byte // fleet: the cells last sent (viewport.go)
	// fleet without a viewport: each driver's newest position not yet
	// sent, and whether pumpFleet is sending them (fleet.go)
	fleetPending map[string][]byte
	pumping      bool
	last         int64    // the last seq delivered
	catchingUp   bool     // a replay from the journal is running
	pending      []*event // live events held back during a replay
	closed       bool
}

func (s *session) subscribe(f clientFrame) {
	if f.Channel == FleetChannel {
		s.subscribeFleet(f)
		return
	}
	if f.Viewport != nil {
		s.sendError(f.ID, problem.ValidationFailed, "only the fleet channel takes a viewport")
		return
	}
	if f.Channel == OrdersChannel {
		s.subscribeOrders(f)
		return
	}
	orderID, ok := strings.CutPrefix(f.Channel, "order:")
	if !ok || orderID == "" {
		if f.Channel == "user:"+s.userID {
			s.ack(f.ID) // subscribed from the start
			return
		}
		s.sendError(f.ID, problem.Forbidden, "you may not watch "+quote(f.Channel))
		return
	}
	s.dropEnded()
	if _, dup := s.subs[f.Channel]; dup {
		s.ack(f.ID)
		return
	}
	if len(s.subs) >= s.g.cfg.MaxSubscriptions {
		s.sendError(f.ID, problem.TooManySubscriptions, "unsubscribe from something first")
		return
	}
	if f.Since != nil && *f.Since < 0 {
		s.sendError(f.ID, problem.ValidationFailed, "since must be ≥ 0")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	row, err := s.g.orders.GetOrder(ctx, orderID)
	switch {
	case errors.Is(err, persistence.ErrNotFound) || (err == nil && !s.mayWatch(row.CustomerID, row.DriverID)):
		// The same answer whether it exists or not, as over HTTP.
		s.sendError(f.ID, problem.NotFound, "no such order "+quote(orderID))
		return
	case err != nil:
		s.sendError(f.ID, problem.Unavailable, "could not check the order; retry")
		return
	}
	sub := &subscription{s: s, channel: f.Channel, orderID: orderID, authorised: row.Version, last: row.Version, catchingUp: true}
	if f.Since != nil {
		sub.last = min(*f.Since, row.Version)
	}
	if err := s.g.hub.watch(sub); err != nil {
		s.sendError(f.ID, problem.Unavailable, "could not subscribe; retry")
		return
	}
	s.addSub(sub)
	// Follow the driver before the ack: once acked, the watcher is owed
	// every position the driver sends.
	if order.HoldsDriver(row.Status) {
		s.g.hub.follow(sub, row.DriverID)
	}
	s.ack(f.ID)
	// Replay what came after `last`, including anything committed between
	// the read above and the bus subscription, then go live.
	go sub.catchUp()
}

// addSub records sub as the session's subscription to its channel.
func (s *session) addSub(sub *subscription) {
	if s.subs == nil {
		s.subs = map[string]*subscription{}
	}
	s.subs[sub.channel] = sub
}

// dropEnded forgets the subscriptions the node ended itself (the order
// was taken from the watcher, or he fell too far behind: the error frame
// with the channel told him), so that subscribing again is answered
// afresh and they no longer count against MaxSubscriptions.
func (s *session) dropEnded() {
	for ch, sub := range s.subs {
		sub.mu.Lock()
		ended := sub.closed
		sub.mu.Unlock()
		if ended {
			delete(s.subs, ch)
			s.g.hub.unwatch(sub)
		}
	}
}

func (s *session) unsubscribe(f clientFrame) {
	sub, ok := s.subs[f.Channel]
	if ok {
		delete(s.subs, f.Channel)
		s.g.hub.unwatch(sub)
		sub.mu.Lock()
		sub.closed = true
		sub.mu.Unlock()
	}
	s.ack(f.ID)
}

// deliver takes a live event from the bus.
func (sub *subscription) deliver(ev *event) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if h := testHooks.Load(); h != nil && h.live != nil && !h.live(sub, ev.seq) {
		return // a test lost it on the bus
	}
	if sub.closed {
		return
	}
	if sub.catchingUp {
		sub.hold(ev)
		return
	}
	if ev.seq > sub.last+1 {
		sub.catchingUp = true
		sub.hold(ev)
		go sub.catchUp()
		return
	}
	sub.emit(ev)
}

// hold keeps a live event during a replay; more than a send queue's worth
// means the client cannot keep up either way.
func (sub *subscription) hold(ev *event) {
	if len(sub.pending) >= sub.s.g.cfg.SendQueueSize {
		sub.closed = true
		sub.s.close(CloseSlowConsumer, "too far behind; reconnect and resume")
		return
	}
	sub.pending = append(sub.pending, ev)
}

// emit sends ev if it is the next seq; called with mu held.
func (sub *subscription) emit(ev *event) {
	if ev.seq != sub.last+1 {
		return // a repeat (or a gap, which the caller handles)
	}
	if ev.seq > sub.authorised && !sub.s.mayWatch(ev.customerID, ev.driverID) {
		// The order changed hands: stop watching, say why.
		sub.closed = true
		b, _ := json.Marshal(errorFrame{Type: "error", Channel: sub.channel, Code: problem.Forbidden,
			Message: "you may no longer watch this order"})
		sub.s.send(b)
		go sub.s.g.hub.unwatch(sub)
		return
	}
	sub.last = ev.seq
	sub.s.send(ev.frame)
	follow := ""
	if ev.holds {
		follow = ev.driverID
	}
	sub.s.g.hub.follow(sub, follow)
}

// deliverFix sends a live position frame of the order's driver.
func (sub *subscription) deliverFix(frame []byte) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed {
		return
	}
	sub.s.send(frame)
}

// deliverCells sends a `cells` frame for v, unless the counts are those
// sent last for the same viewport.
func (sub *subscription) deliverCells(v *viewport, z int, cells []byte, at time.Time) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed || sub.view.Load() != v || bytes.Equal(cells, sub.lastCells) {
		return
	}
	sub.lastCells = cells
	sub.s.send(cellsFrame(z, cells, at))
}

// catchUp replays journal events after last, then the held live events,
// until no gap remains.
func (sub *subscription) catchUp() {
	for attempt := 0; ; attempt++ {
		sub.mu.Lock()
		if sub.closed {
			sub.mu.Unlock()
			return
		}
		from := sub.last
		sub.mu.Unlock()

		events, err := sub.replay(from)
		sub.mu.Lock()
		if sub.closed {
			sub.mu.Unlock()
			return
		}
		if err != nil {
			sub.mu.Unlock()
			if attempt >= 5 {
				sub.s.close(CloseInternalError, "could not replay missed events; reconnect and resume")
				return
			}
			time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
			continue
		}
		for _, ev := range events {
			sub.s.g.metrics.replayed.Inc()
			sub.emit(ev)
		}
		slices.SortFunc(sub.pending, func(a, b *event) int { return int(a.seq - b.seq) })
		rest := sub.pending[:0]
		for _, ev := range sub.pending {
			switch {
			case sub.closed:
			case ev.seq <= sub.last:
			case ev.seq == sub.last+1:
				sub.emit(ev)
			default:
				rest = append(rest, ev)
			}
		}
		sub.pending = rest
		if len(rest) == 0 || sub.closed {
			sub.catchingUp = false
			sub.mu.Unlock()
			return
		}
		// Still a gap: the journal read raced a newer commit; read again.
		sub.mu.Unlock()
	}
}

// replay reads the order's events after seq from the journal.
func (sub *subscription) replay(after int64) ([]*event, error) {
	if h := testHooks.Load(); h != nil && h.replay != nil {
		if err := h.replay(sub, after, false); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	journal, err := sub.s.g.orders.JournalEvents(ctx, actors.KindOrder, sub.orderID, 0)
	if err != nil {
		return nil, err
	}
	published, err := order.PublishedAfter(journal, after)
	if err != nil {
		return nil, err
	}
	out := make([]*event, 0, len(published))
	for _, p := range published {
		ev, err := eventFrame(p)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	if h := testHooks.Load(); h != nil && h.replay != nil {
		_ = h.replay(sub, after, true)
	}
	return out, nil
}

// hooks let this package's tests act at the replay seam, where only timing
// decides which path runs (a gap, events held or overflowing during a
// replay, a commit racing the journal read). testHooks is nil in
// production; only export_test.go sets it. An atomic pointer rather than
// plain func variables: a test may set it while goroutines of an earlier
// test's node are still winding down.
type hooks struct {
	// live sees each live event a subscription takes from the bus, with
	// sub.mu held (so what it saw is held or sent before a catch-up can
	// look); false drops it, as a lost bus message would (the next one
	// opens a gap).
	live func(sub *subscription, seq int64) bool
	// replay runs before each journal read of a catch-up (read false; an
	// error fails the read) and after it (read true), without sub.mu.
	replay func(sub *subscription, after int64, read bool) error
	// started runs in Serve once the session is in the gateway (the ping
	// ticker sees it) and before its reader starts; pinged each time the
	// ticker visits a session.
	started func()
	pinged  func()
	// flushing runs when a session's writer starts, before it takes the
	// queue: a test that blocks in it lets frames queue up.
	flushing func()
}

var testHooks atomic.Pointer[hooks]

package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/wire"
)

// Tracking links, live: GET /v1/track/:token/events streams what GET
// /v1/track/:token answers, as Server-Sent Events (what a browser's
// EventSource reads), to anyone holding the token:
//
//   - `event: tracking`, `id:` the order's version, `data:` the Tracking
//     JSON on one line — at once, again after every event of the order
//     (from whichever node wrote it) and when the driver who holds it
//     moves, his positions at most once per Config.TrackingStreamInterval
//     (the newest wins);
//   - `: keep-alive` after Config.TrackingStreamKeepAlive (15 s) of
//     silence, for proxies;
//   - once the order ended (delivered, cancelled, failed): its last
//     `tracking`, then `event: end` with `data: {}`, and the stream closes.
//
// The first message sets `retry: 2000`: a browser reconnects 2 s after a
// dropped connection, and a stream that reconnects starts with the newest
// state (Last-Event-ID is ignored: every message is the whole state, so
// nothing needs replaying). A stream closes after
// Config.TrackingStreamMaxAge (the browser reconnects) and when the node
// stops. A forged or expired token is answered 404 and a node with
// Config.TrackingStreams streams open 503 unavailable with Retry-After,
// as problem+json, before any stream starts.
//
// Live updates come from the realtime path, not from polling: the
// gateway's hub (transport/ws, OrderFeed) tells the stream of each order
// event and each fix of the order's driver, on the bus subscriptions it
// keeps for WebSocket watchers of the same order and driver. An event
// re-reads the order from the store (the read model is committed with
// the event, so the read sees it); a fix only moves the driver and the
// estimated arrival. The read model keeps a driver's last position only
// every few seconds, so a re-read keeps the newer fix the stream saw.
//
// Concurrency: the bus callbacks only record news (trackNews, under its
// mutex) and wake the handler's goroutine, which alone reads the store
// and writes the stream.

// Defaults of the tracking streams' settings (Config).
const (
	DefaultTrackingStreams         = 10_000
	DefaultTrackingStreamInterval  = time.Second
	DefaultTrackingStreamMaxAge    = time.Hour
	DefaultTrackingStreamKeepAlive = 15 * time.Second
)

// trackingRetry is the reconnection delay a stream asks of the browser
// (the `retry:` field), in milliseconds.
const trackingRetry = 2000

// trackingWriteWait bounds each write to a stream: a client that takes
// nothing for this long is cut off. The server's WriteTimeout, meant for
// answers, would end every stream after a minute; each write moves the
// deadline instead.
const trackingWriteWait = 10 * time.Second

// trackingFullRetryAfter is the Retry-After, in seconds, of a node whose
// tracking streams are full.
const trackingFullRetryAfter = 5

// OrderFeed tells HTTP handlers of one order's events and of the live
// positions of the driver it holds (transport/ws's Gateway.WatchOrder
// documents the guarantees): onEvent and onFix must not block; follow
// sets the driver to follow from a read of the order at a version.
type OrderFeed interface {
	WatchOrder(orderID string, onEvent func(seq int64), onFix func(wire.Fix)) (follow func(driverID string, version int64), stop func(), err error)
}

// trackStreams counts a node's open tracking streams and ends them when
// the node stops.
type trackStreams struct {
	max  int64
	open atomic.Int64
	done chan struct{}
	once sync.Once
}

func newTrackStreams(max int) *trackStreams {
	return &trackStreams{max: int64(max), done: make(chan struct{})}
}

// acquire takes a slot; false when all are taken.
func (t *trackStreams) acquire() bool {
	if t.open.Add(1) > t.max {
		t.open.Add(-1)
		return false
	}
	return true
}

func (t *trackStreams) release() { t.open.Add(-1) }

// shutdown ends every stream, now and later.
func (t *trackStreams) shutdown() { t.once.Do(func() { close(t.done) }) }

// trackNews is what the bus told a stream since its goroutine last
// looked: that the order moved, and the newest fix.
type trackNews struct {
	wake chan struct{} // one pending wake-up at most
	mu   sync.Mutex
	// moved: an event of the order came; fix: the newest position not
	// yet taken.
	moved bool
	fix   *wire.Fix
}

func newTrackNews() *trackNews { return &trackNews{wake: make(chan struct{}, 1)} }

func (n *trackNews) event(int64) {
	n.mu.Lock()
	n.moved = true
	n.mu.Unlock()
	n.signal()
}

func (n *trackNews) position(f wire.Fix) {
	n.mu.Lock()
	if n.fix == nil || f.TsMs >= n.fix.TsMs || f.DriverID != n.fix.DriverID {
		n.fix = &f
	}
	n.mu.Unlock()
	n.signal()
}

func (n *trackNews) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *trackNews) take() (moved bool, fix *wire.Fix) {
	n.mu.Lock()
	defer n.mu.Unlock()
	moved, fix = n.moved, n.fix
	n.moved, n.fix = false, nil
	return moved, fix
}

// trackEvents answers GET /v1/track/:token/events.
func (s *Server) trackEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	id, ok := trackedOrder(s.trackingKey, c.params.ByName("token"))
	if !ok {
		return errorf(problem.NotFound, "no such tracking link")
	}
	if s.orderFeed == nil {
		return errorf(problem.Unavailable, "live tracking is not enabled on this node")
	}
	if !s.streams.acquire() {
		return errorf(problem.Unavailable, "this node streams as many tracking links as it may (%d); retry shortly",
			s.streams.max).retryAfter(trackingFullRetryAfter)
	}
	defer s.streams.release()
	// Watch, then read: every event committed after the read reaches news.
	news := newTrackNews()
	follow, stop, err := s.orderFeed.WatchOrder(id, news.event, news.position)
	if err != nil {
		return unavailable(fmt.Errorf("watch order %s: %w", id, err))
	}
	defer stop()
	st := &trackStream{s: s, w: w, rc: http.NewResponseController(w), follow: follow}
	if err := st.refresh(r.Context(), id); err != nil {
		return err // not_found, unavailable: nothing written yet
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)
	if _, err := st.send(fmt.Sprintf("retry: %d\n", trackingRetry)); err != nil {
		return nil
	}
	st.run(r.Context(), id, news)
	return nil
}

// trackStream is one open stream, owned by its handler's goroutine.
type trackStream struct {
	s      *Server
	w      http.ResponseWriter
	rc     *http.ResponseController
	follow func(driverID string, version int64)
	view   trackingView
	row    actors.OrderRow
	// newest is the newest fix the stream saw; lastMove when it last sent
	// one alone.
	newest   *wire.Fix
	lastMove time.Time
	// sent is the data of the last `tracking` event: an event that
	// changes nothing the link shows (one the bus brought after the
	// stream's first read had seen it) sends nothing.
	sent []byte
}

// run streams until the order ended, the client left, the stream grew
// old or the node stops.
func (st *trackStream) run(ctx context.Context, id string, news *trackNews) {
	cfg := st.s.cfg
	keep := time.NewTimer(cfg.TrackingStreamKeepAlive)
	defer keep.Stop()
	maxAge := time.NewTimer(cfg.TrackingStreamMaxAge)
	defer maxAge.Stop()
	var pace <-chan time.Time // armed while a position waits for its turn
	moving := false           // newest is not sent yet
	for {
		if ended(st.row.Status) {
			_ = st.write("event: end\ndata: {}\n\n")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-st.s.streams.done:
			return
		case <-maxAge.C:
			return
		case <-keep.C:
			if st.write(": keep-alive\n\n") != nil {
				return
			}
			keep.Reset(cfg.TrackingStreamKeepAlive)
			continue
		case <-pace:
			pace = nil
		case <-news.wake:
		}
		moved, fix := news.take()
		if fix != nil && (st.newest == nil || fix.DriverID != st.newest.DriverID || fix.TsMs > st.newest.TsMs) {
			st.newest, moving = fix, true
		}
		switch {
		case moved:
			if err := st.refresh(ctx, id); err != nil {
				// The browser reconnects and reads afresh.
				st.s.log.Warn("tracking stream: cannot read the order", "order", id, "err", err)
				return
			}
			moving = false
		case moving && st.shows(st.newest):
			if wait := cfg.TrackingStreamInterval - time.Since(st.lastMove); wait > 0 {
				if pace == nil {
					pace = time.After(wait)
				}
				continue
			}
			st.placeNewest()
			st.lastMove, moving = time.Now(), false
		default:
			moving = false
			continue
		}
		sent, err := st.send("")
		if err != nil {
			return
		}
		if sent {
			keep.Reset(cfg.TrackingStreamKeepAlive)
		}
	}
}

// refresh reads the order as its tracking link shows it, moves the watch
// to the driver the order holds and keeps the newest fix the stream saw
// if the store has an older position.
func (st *trackStream) refresh(ctx context.Context, id string) error {
	v, row, err := st.s.tracking(ctx, id)
	if err != nil {
		return err
	}
	st.view, st.row = v, row
	driver := ""
	if order.HoldsDriver(row.Status) {
		driver = row.DriverID
	}
	st.follow(driver, row.Version)
	if st.shows(st.newest) {
		st.placeNewest()
	}
	return nil
}

// shows reports whether fix moves the driver the view shows: his, and
// newer than the position shown.
func (st *trackStream) shows(fix *wire.Fix) bool {
	d := st.view.Driver
	if fix == nil || d == nil || fix.DriverID != st.row.DriverID {
		return false
	}
	if d.At == nil {
		return true
	}
	at, err := wire.ParseTimestamp(*d.At)
	return err != nil || time.UnixMilli(fix.TsMs).After(at)
}

// placeNewest moves the view's driver to the newest fix.
func (st *trackStream) placeNewest() {
	f := st.newest
	st.view.placeDriver(st.row, f.Lat, f.Lng, time.UnixMilli(f.TsMs), st.s.now(), st.s.cfg.TrackingSpeed)
}

// send writes the view as a `tracking` event, after prefix, unless it is
// the one sent last.
func (st *trackStream) send(prefix string) (sent bool, err error) {
	b, err := json.Marshal(st.view)
	if err != nil || bytes.Equal(b, st.sent) {
		return false, err
	}
	st.sent = b
	return true, st.write(fmt.Sprintf("%sid: %d\nevent: tracking\ndata: %s\n\n", prefix, st.row.Version, b))
}

// write writes one message and flushes it, within trackingWriteWait.
func (st *trackStream) write(msg string) error {
	_ = st.rc.SetWriteDeadline(time.Now().Add(trackingWriteWait))
	if _, err := st.w.Write([]byte(msg)); err != nil {
		return err
	}
	return st.rc.Flush()
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/cmd/outrider-chaos/oracle"
)

// maxChannels stays under the gateway's subscriptions per session (100).
const maxChannels = 90

// watchers are WebSocket clients watching orders (admin sessions, which
// may watch any order). Each order is watched by a few of them from seq 0;
// when a watcher's node goes away it reconnects to another node and
// resubscribes every channel with since = the last seq it saw (I4). A
// watcher unsubscribes from an order once it has seen the order's final
// seq, to stay under the gateway's subscription limit.
type watchers struct {
	router   *router
	token    string
	perOrder int
	list     []*watcher
	stop     chan struct{}
	wg       sync.WaitGroup

	mu      sync.Mutex
	errors  map[string]int // error frames and dial failures, by code
	closes  map[int]int    // close codes seen
	redials int
	samples []string // the first error frames, in full
}

type watcher struct {
	ws *watchers
	id int

	mu      sync.Mutex
	conn    *websocket.Conn
	streams map[string]*stream
	open    int // channels subscribed and not yet done
	// subscribeIDs maps the id of each subscribe sent to its order; subs
	// numbers them.
	subscribeIDs map[string]string
	subs         int
}

type stream struct {
	s     oracle.Stream
	last  int64
	final int64 // the order's final seq once the workload finished it, else 0
	done  bool  // unsubscribed after final
}

func newWatchers(r *router, token string, n, perOrder int) *watchers {
	ws := &watchers{router: r, token: token, perOrder: perOrder, stop: make(chan struct{}),
		errors: map[string]int{}, closes: map[int]int{}}
	for i := range n {
		ws.list = append(ws.list, &watcher{ws: ws, id: i, streams: map[string]*stream{}, subscribeIDs: map[string]string{}})
	}
	return ws
}

func (ws *watchers) start() {
	for _, w := range ws.list {
		ws.wg.Go(w.loop)
	}
}

// watch gives order to perOrder watchers with room for it.
func (ws *watchers) watch(order string) {
	if len(ws.list) == 0 {
		return
	}
	n := 0
	for _, i := range rand.Perm(len(ws.list)) {
		if n == ws.perOrder {
			return
		}
		if ws.list[i].add(order) {
			n++
		}
	}
}

// done tells the watchers of order its final seq.
func (ws *watchers) done(order string, final int64) {
	for _, w := range ws.list {
		w.finish(order, final)
	}
}

// sample keeps the first few error frames in full, to say what happened.
func (ws *watchers) sample(what string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.samples) < 20 {
		ws.samples = append(ws.samples, what)
	}
}

func (ws *watchers) count(what string) {
	ws.mu.Lock()
	ws.errors[what]++
	ws.mu.Unlock()
}

// behind returns how many streams have not reached want[order] yet.
func (ws *watchers) behind(want map[string]int64) int {
	n := 0
	for _, w := range ws.list {
		w.mu.Lock()
		for id, s := range w.streams {
			if s.last < want[id] {
				n++
			}
		}
		w.mu.Unlock()
	}
	return n
}

// close stops every watcher and returns the streams.
func (ws *watchers) close() []oracle.Stream {
	close(ws.stop)
	for _, w := range ws.list {
		w.mu.Lock()
		if w.conn != nil {
			_ = w.conn.Close()
		}
		w.mu.Unlock()
	}
	ws.wg.Wait()
	var out []oracle.Stream
	for _, w := range ws.list {
		for _, s := range w.streams {
			out = append(out, s.s)
		}
	}
	return out
}

func (w *watcher) add(order string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open >= maxChannels {
		return false
	}
	w.open++
	s := &stream{s: oracle.Stream{Watcher: w.id, Order: order, Subscribes: []int64{0}}}
	w.streams[order] = s
	if w.conn != nil {
		w.subscribeLocked(order, 0)
	}
	return true
}

func (w *watcher) finish(order string, final int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := w.streams[order]; s != nil {
		s.final = final
		w.maybeDoneLocked(order, s)
	}
}

func (w *watcher) maybeDoneLocked(order string, s *stream) {
	if s.done || s.final == 0 || s.last < s.final {
		return
	}
	s.done = true
	w.open--
	if w.conn != nil {
		_ = w.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = w.conn.WriteJSON(map[string]any{"type": "unsubscribe", "channel": "order:" + order})
	}
}

func (w *watcher) subscribeLocked(order string, since int64) {
	w.subs++
	id := fmt.Sprintf("w%d-%d", w.id, w.subs)
	w.subscribeIDs[id] = order
	_ = w.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = w.conn.WriteJSON(map[string]any{"type": "subscribe", "channel": "order:" + order, "since": since, "id": id})
}

// loop keeps the watcher connected until stop.
func (w *watcher) loop() {
	node := -1
	for attempt := 0; ; attempt++ {
		select {
		case <-w.ws.stop:
			return
		default:
		}
		var addr string
		node, addr = w.ws.router.pick(node)
		if node >= 0 {
			if w.session(addr) {
				attempt = 0
			}
		}
		select {
		case <-w.ws.stop:
			return
		case <-time.After(retryPause(attempt)):
		}
	}
}

// frame is any server frame.
type frame struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	Seq     int64  `json:"seq"`
	Event   string `json:"event"`
	Code    string `json:"code"`
	ID      string `json:"id"`
	Message string `json:"message"`
}

// session runs one connection: (re)subscribe, then record frames until it
// breaks. It reports whether the dial succeeded.
func (w *watcher) session(addr string) bool {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws://"+addr+"/v1/ws", http.Header{"Authorization": {"Bearer " + w.ws.token}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		w.ws.count("dial failed")
		return false
	}
	w.mu.Lock()
	select {
	case <-w.ws.stop:
		w.mu.Unlock()
		_ = conn.Close()
		return true
	default:
	}
	w.conn = conn
	for order, s := range w.streams {
		if s.done {
			continue
		}
		if len(s.s.Events) > 0 || len(s.s.Subscribes) > 1 {
			s.s.Subscribes = append(s.s.Subscribes, s.last)
			w.ws.mu.Lock()
			w.ws.redials++
			w.ws.mu.Unlock()
		}
		w.subscribeLocked(order, s.last)
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.conn = nil
		w.mu.Unlock()
		_ = conn.Close()
	}()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				w.ws.mu.Lock()
				w.ws.closes[ce.Code]++
				w.ws.mu.Unlock()
			}
			return true
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			w.ws.count("bad frame")
			continue
		}
		switch f.Type {
		case "event":
			order, ok := strings.CutPrefix(f.Channel, "order:")
			if !ok {
				continue // user:{id} pushes
			}
			w.mu.Lock()
			if s := w.streams[order]; s != nil {
				s.s.Events = append(s.s.Events, oracle.Frame{Seq: f.Seq, Event: f.Event})
				s.last = max(s.last, f.Seq)
				w.maybeDoneLocked(order, s)
			}
			w.mu.Unlock()
		case "error":
			w.ws.count("error frame " + f.Code)
			w.mu.Lock()
			order := w.subscribeIDs[f.ID]
			w.mu.Unlock()
			w.ws.sample(fmt.Sprintf("%s watcher %d on %s: %s %s (order %s)",
				time.Now().Format("15:04:05.000"), w.id, addr, f.Code, f.Message, order))
			// A subscribe refused for a passing reason is asked again a
			// moment later from the last seq seen, on this connection if it
			// still stands. Any other refusal of a subscribe to an order
			// that exists shows as a gap.
			w.mu.Lock()
			order, ok := w.subscribeIDs[f.ID]
			w.mu.Unlock()
			if ok && (f.Code == "rate_limited" || f.Code == "unavailable") {
				time.AfterFunc(100*time.Millisecond+rand.N(200*time.Millisecond), func() {
					w.mu.Lock()
					defer w.mu.Unlock()
					if s := w.streams[order]; s != nil && !s.done && w.conn == conn {
						s.s.Subscribes = append(s.s.Subscribes, s.last)
						w.subscribeLocked(order, s.last)
					}
				})
			}
		}
	}
}

// waitCaughtUp polls until every stream reached its order's final seq in
// want, or ctx ends; it returns how many are still behind.
func (ws *watchers) waitCaughtUp(ctx context.Context, want map[string]int64) int {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		n := ws.behind(want)
		if n == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
	}
}

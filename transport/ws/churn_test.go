package ws_test

// I4 under churn (DESIGN.md §2, §4; issue 11): every subscription's events
// are since+1, since+2, … each once, in order, each the journal's event of
// that seq — through the replay seam of subscription.go, which only timing
// reaches: a gap refilled from the journal, live events held during a
// replay (already replayed, or next), an overflow of the held events, a
// commit racing the replay's read, a failing read. The seam tests steer
// the timing with the package's test hooks (export_test.go); the hammer
// lets many watchers resubscribe at random since values while commits go
// on and the hooks lose live events and fail reads at random. Both check
// every stream with wstest.Check against the journal in Postgres.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/ws"
	"github.com/outrider/outrider/transport/ws/wstest"
	"github.com/outrider/outrider/wire"
)

// rig is one order with its customer and driver, and commits that can go
// on forever: the admin assigns, the driver declines (one event each).
type rig struct {
	admin, cust, drv *e2e.Caller
	id               string
	channel          string
	assigned         bool
	acked            atomic.Int64 // the order's version in the last 2xx
}

func newRig(t *testing.T, a *e2e.API, cust *e2e.Caller) *rig {
	t.Helper()
	r := &rig{admin: a.Admin, cust: cust, drv: a.CreateDriver(t, 0, true)}
	r.id = cust.CreateOrder(t).ID
	r.channel = "order:" + r.id
	r.acked.Store(1)
	return r
}

// step commits the next event. Off the test's goroutine t is an
// e2e.GoT: an answer the OpenAPI document does not describe is reported
// to t, an answer other than 200 is returned.
func (r *rig) step(t e2e.TB) error {
	var err error
	if r.assigned {
		err = r.call(t, r.drv, http.MethodPost, "/v1/orders/"+r.id+"/decline", nil)
	} else {
		err = r.call(t, r.admin, http.MethodPost, "/v1/orders/"+r.id+"/assign", map[string]any{"driver_id": r.drv.ID()})
	}
	if err == nil {
		r.assigned = !r.assigned
	}
	return err
}

// finish cancels the order: the last event, which every open stream must get.
func (r *rig) finish(t e2e.TB) error {
	return r.call(t, r.admin, http.MethodPut, "/v1/orders/"+r.id+"/status", map[string]any{"status": "cancelled"})
}

func (r *rig) call(t e2e.TB, as *e2e.Caller, method, path string, body any) error {
	resp, err := as.Try(t, method, path, body)
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return fmt.Errorf("%s", resp)
	}
	var o wire.Order
	if err := json.Unmarshal(resp.Body, &o); err != nil || o.Version == 0 {
		return fmt.Errorf("no version in %s", resp)
	}
	for v := r.acked.Load(); v < o.Version && !r.acked.CompareAndSwap(v, o.Version); v = r.acked.Load() {
	}
	return nil
}

// journals reads the rigs' journals from the node's store.
func journals(t *testing.T, n *app.Node, rigs ...*rig) (map[string][]order.Published, map[string]int64) {
	t.Helper()
	js, latest := map[string][]order.Published{}, map[string]int64{}
	for _, r := range rigs {
		j, err := wstest.Journal(context.Background(), n.Store(), r.id)
		require.NoError(t, err)
		js[r.id], latest[r.id] = j, int64(len(j))
		require.Equal(t, r.acked.Load(), int64(len(j)), "order %s: the journal ends at the last acknowledged version", r.id)
	}
	return js, latest
}

// seam steers one order's subscriptions through the hooks: it loses the
// live events in drop (once each), fails the first failReads journal
// reads, and parks the first catch-up before (blockBefore) or after
// (blockAfter) its read until release is closed.
type seam struct {
	drop                    map[int64]bool
	failReads               int
	blockBefore, blockAfter bool

	blocked, release chan struct{}
	releaseOnce      sync.Once
	seen             chan int64 // live seqs the subscriptions took (or lost)

	mu    sync.Mutex
	reads int // journal reads begun
	parks int
}

func newSeam() *seam {
	return &seam{drop: map[int64]bool{}, blocked: make(chan struct{}), release: make(chan struct{}), seen: make(chan int64, 1024)}
}

// seams routes the hooks to the seam of each order.
type seams struct {
	mu      sync.Mutex
	byOrder map[string]*seam
}

func (ss *seams) of(orderID string) *seam {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.byOrder[orderID]
}

func (ss *seams) hooks() ws.Hooks {
	return ws.Hooks{
		Live: func(sub ws.Sub, seq int64) bool {
			s := ss.of(sub.OrderID)
			if s == nil {
				return true
			}
			s.mu.Lock()
			lose := s.drop[seq]
			delete(s.drop, seq)
			s.mu.Unlock()
			s.seen <- seq // runs under the subscription's lock: never blocks (buffered)
			return !lose
		},
		Replay: func(sub ws.Sub, after int64, read bool) error {
			s := ss.of(sub.OrderID)
			if s == nil {
				return nil
			}
			s.mu.Lock()
			park := s.parks == 0 && ((s.blockBefore && !read) || (s.blockAfter && read))
			if park {
				s.parks++
			}
			var fail bool
			if !read {
				s.reads++
				fail = s.reads <= s.failReads
			}
			s.mu.Unlock()
			if park {
				close(s.blocked)
				<-s.release
			}
			if fail {
				return errors.New("test: journal read failed")
			}
			return nil
		},
	}
}

// set changes the seam's settings (the hooks read them concurrently).
func (s *seam) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// unpark lets the parked catch-up go on.
func (s *seam) unpark() { s.releaseOnce.Do(func() { close(s.release) }) }

// awaitSeen waits until the order's subscriptions took live event seq.
func (s *seam) awaitSeen(t *testing.T, seq int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-s.seen:
			if got == seq {
				return
			}
		case <-deadline:
			t.Fatalf("live event %d never reached the subscription", seq)
		}
	}
}

func (s *seam) readsBegun() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// awaitLast waits until w received seq on channel.
func awaitLast(t *testing.T, w *wstest.Watcher, channel string, seq int64) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { return w.Last(channel) >= seq })
}

func since(v int64) *int64 { return &v }

func eventually(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, d, 20*time.Millisecond)
}

// TestReplaySeam drives each path of subscription.go's replay seam on
// purpose and checks I4 after it.
func TestReplaySeam(t *testing.T) {
	const queue = 16
	var namespace string
	n, a := e2e.Up(t, func(cfg *app.Config) { cfg.WS.SendQueueSize = queue; namespace = cfg.Relay.Namespace })
	nc, err := nats.Connect(e2e.NATSURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	// republish puts an order's event on the bus again, as a relay that
	// took over the outbox does with what its predecessor may have sent.
	republish := func(t *testing.T, r *rig, seq int64) {
		t.Helper()
		j, err := wstest.Journal(context.Background(), n.Store(), r.id)
		require.NoError(t, err)
		b, err := json.Marshal(j[seq-1])
		require.NoError(t, err)
		require.NoError(t, nc.Publish(namespace+order.Subject(r.id), b))
		require.NoError(t, nc.Flush())
	}
	ss := &seams{byOrder: map[string]*seam{}}
	ws.SetHooks(t, ss.hooks())

	for _, tc := range []struct {
		name string
		// run acts on the seam, the order and a connected watcher of its
		// customer, and returns the watchers to check.
		run func(t *testing.T, s *seam, r *rig, w *wstest.Watcher) []*wstest.Watcher
	}{
		{"a live event beyond the next opens a gap, filled from the journal", func(t *testing.T, s *seam, r *rig, w *wstest.Watcher) []*wstest.Watcher {
			require.NoError(t, w.Subscribe(r.channel, nil, 1))
			require.NoError(t, r.step(t)) // seq 2, live: the catch-up is over once it arrived
			awaitLast(t, w, r.channel, 2)
			s.set(func() { s.drop[3] = true })
			require.NoError(t, r.step(t))
			require.NoError(t, r.step(t)) // seq 4 finds the gap where 3 was lost
			awaitLast(t, w, r.channel, 4)
			require.Equal(t, 2, s.readsBegun(), "the subscribe's catch-up and the gap's")
			return []*wstest.Watcher{w}
		}},
		{"live events held during a replay come after it", func(t *testing.T, s *seam, r *rig, w *wstest.Watcher) []*wstest.Watcher {
			s.set(func() { s.blockAfter = true })
			require.NoError(t, w.Subscribe(r.channel, since(0), 0))
			<-s.blocked // the read saw only seq 1
			require.NoError(t, r.step(t))
			require.NoError(t, r.step(t))
			s.awaitSeen(t, 2)
			s.awaitSeen(t, 3)
			s.unpark()
			awaitLast(t, w, r.channel, 3)
			require.Equal(t, 1, s.readsBegun())
			return []*wstest.Watcher{w}
		}},
		{"live events held during a replay that already has them are dropped", func(t *testing.T, s *seam, r *rig, w *wstest.Watcher) []*wstest.Watcher {
			s.set(func() { s.blockBefore = true })
			require.NoError(t, w.Subscribe(r.channel, since(0), 0))
			<-s.blocked // the read will see seqs 2 and 3 too
			require.NoError(t, r.step(t))
			require.NoError(t, r.step(t))
			s.awaitSeen(t, 2)
			s.awaitSeen(t, 3)
			s.unpark()
			awaitLast(t, w, r.channel, 3)
			require.NoError(t, r.step(t))
			awaitLast(t, w, r.channel, 4)
			require.Equal(t, 1, s.readsBegun())
			return []*wstest.Watcher{w}
		}},
		{"a commit racing the replay's read is read again", func(t *testing.T, s *seam, r *rig, w *wstest.Watcher) []*wstest.Watcher {
			s.set(func() {
				s.blockAfter = true
				s.drop[2] = true // lost on the bus: not there when the held 3 is looked at
			})
			require.NoError(t, w.Subscribe(r.channel, since(0), 0))
			<-s.blocked
			require.NoError(t, r.step(t))
			require.NoError(t, r.step(t))
			s.awaitSeen(t, 2)
			s.awaitSeen(t, 3)
			s.unpark()
			awaitLast(t, w, r.channel, 3)
			require.Equal(t, 2, s.readsBegun(), "the held seq 3 is not next after the read's seq 1: read again")
			return []*wstest.Watcher{w}
		}},
		{"held events that arrived out of order are sent in order", func(t *testing.T, s *seam, r *rig, w *wstest.Watcher) []*wstest.Watcher {
			s.set(func() {
				s.blockAfter = true
				s.drop[2] = true // lost the first time…
			})
			require.NoError(t, w.Subscribe(r.channel, since(0), 0))
			<-s.blocked
			require.NoError(t, r.step(t))
			require.NoError(t, r.step(t))
			s.awaitSeen(t, 2)
			s.awaitSeen(t, 3)
			republish(t, r, 2) // …and sent again after 3
			s.awaitSeen(t, 2)
			s.unpark()
			awaitLast(t, w, r.channel, 3)
			require.Equal(t, 1, s.readsBegun(), "held 3, 2 are 2, 3: no second read")
			return []*wstest.Watcher{w}
		}},
		{"held events overflowing during a replay cut the session off; it resumes", func(t *testing.T, s *seam, r *rig, w *wstest.Watcher) []*wstest.Watcher {
			s.set(func() { s.blockBefore = true })
			require.NoError(t, w.Subscribe(r.channel, since(0), 0))
			<-s.blocked
			for range queue + 1 { // seqs 2..queue+2: the last finds the held queue full
				require.NoError(t, r.step(t))
			}
			eventually(t, 10*time.Second, func() bool { return !w.Connected() })
			require.Equal(t, ws.CloseSlowConsumer, w.CloseCode())
			require.Equal(t, int64(-1), w.Last(r.channel), "nothing sent while the replay was held")
			s.unpark()
			// Resume on a new connection from a point of the history.
			w2 := wstest.NewWatcher(r.cust.Token)
			t.Cleanup(w2.Close)
			require.NoError(t, w2.Dial(n.Addr()))
			require.NoError(t, w2.Subscribe(r.channel, since(queue/2), 0))
			require.NoError(t, r.step(t))
			awaitLast(t, w2, r.channel, r.acked.Load())
			return []*wstest.Watcher{w, w2}
		}},
		{"a failed journal read is retried", func(t *testing.T, s *seam, r *rig, w *wstest.Watcher) []*wstest.Watcher {
			s.set(func() { s.failReads = 2 })
			require.NoError(t, r.step(t))
			require.NoError(t, w.Subscribe(r.channel, since(0), 0))
			awaitLast(t, w, r.channel, 2)
			require.Equal(t, 3, s.readsBegun())
			return []*wstest.Watcher{w}
		}},
		{"a journal that cannot be read closes the session", func(t *testing.T, s *seam, r *rig, w *wstest.Watcher) []*wstest.Watcher {
			s.set(func() { s.failReads = 1 << 20 })
			require.NoError(t, w.Subscribe(r.channel, since(0), 0))
			eventually(t, 10*time.Second, func() bool { return !w.Connected() })
			require.Equal(t, ws.CloseInternalError, w.CloseCode())
			require.Equal(t, 6, s.readsBegun())
			return []*wstest.Watcher{w}
		}},
		{"an event that takes the order away ends the subscription, in a replay too", func(t *testing.T, s *seam, r *rig, _ *wstest.Watcher) []*wstest.Watcher {
			s.set(func() { s.blockAfter = true })
			require.NoError(t, r.step(t)) // seq 2: assigned to the driver
			d := wstest.NewWatcher(r.drv.Token)
			t.Cleanup(d.Close)
			require.NoError(t, d.Dial(n.Addr()))
			require.NoError(t, d.Subscribe(r.channel, since(2), 0))
			<-s.blocked
			require.NoError(t, r.step(t)) // seq 3: declined, no longer the driver's
			require.NoError(t, r.step(t)) // seq 4: assigned again, but the subscription is over
			s.awaitSeen(t, 3)
			s.awaitSeen(t, 4)
			s.unpark()
			eventually(t, 10*time.Second, func() bool { return !d.Subscribed(r.channel) })
			st := d.Streams()
			require.Len(t, st, 1)
			require.Contains(t, st[0].Reason, "forbidden")
			return []*wstest.Watcher{d}
		}},
		{"a driver resuming from before the assignment gets the history it may read over HTTP", func(t *testing.T, s *seam, r *rig, _ *wstest.Watcher) []*wstest.Watcher {
			require.NoError(t, r.step(t)) // seq 2: assigned to the driver
			d := wstest.NewWatcher(r.drv.Token)
			t.Cleanup(d.Close)
			require.NoError(t, d.Dial(n.Addr()))
			require.NoError(t, d.Subscribe(r.channel, since(0), 0))
			awaitLast(t, d, r.channel, 2)
			require.True(t, d.Subscribed(r.channel))
			return []*wstest.Watcher{d}
		}},
		{"unsubscribed, nothing arrives; resubscribed, the missed events do", func(t *testing.T, s *seam, r *rig, w *wstest.Watcher) []*wstest.Watcher {
			// Another watcher keeps the node's bus subscription of the
			// channel, so the events still reach the node.
			other := wstest.NewWatcher(a.Admin.Token)
			t.Cleanup(other.Close)
			require.NoError(t, other.Dial(n.Addr()))
			require.NoError(t, other.Subscribe(r.channel, nil, 1))
			require.NoError(t, w.Subscribe(r.channel, nil, 1))
			require.NoError(t, r.step(t))
			awaitLast(t, w, r.channel, 2)
			require.NoError(t, w.Unsubscribe(r.channel))
			require.NoError(t, r.step(t))
			require.NoError(t, r.step(t))
			awaitLast(t, other, r.channel, 4)
			require.NoError(t, w.Subscribe(r.channel, since(2), 0))
			require.NoError(t, r.step(t))
			awaitLast(t, w, r.channel, 5)
			awaitLast(t, other, r.channel, 5)
			return []*wstest.Watcher{w, other}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, a, a.Signup(t))
			s := newSeam()
			t.Cleanup(s.unpark) // a failed case must not leave a catch-up parked
			ss.mu.Lock()
			ss.byOrder[r.id] = s
			ss.mu.Unlock()
			w := wstest.NewWatcher(r.cust.Token)
			t.Cleanup(w.Close)
			require.NoError(t, w.Dial(n.Addr()))
			watchers := tc.run(t, s, r, w)
			js, _ := journals(t, n, r)
			wstest.Check(t, js, watchers...)
		})
	}
}

package ws_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/ws"
	"github.com/outrider/outrider/transport/ws/wstest"
)

// churner is one watcher of the hammer and the orders it may watch.
type churner struct {
	w    *wstest.Watcher
	rigs []*rig
	// counts, for the log
	resubscribes, reconnects, cutOff int
}

// randomSince is a since the order has certainly reached (nil one time in
// eight, with the version acknowledged before as the floor).
func randomSince(r *rig) (*int64, int64) {
	acked := r.acked.Load()
	if rand.IntN(8) == 0 {
		return nil, acked
	}
	return since(rand.Int64N(acked + 1)), 0
}

// churn resubscribes, unsubscribes and reconnects at random until stop. A
// connection the server closed (a slow consumer, a failed replay) is
// reconnected; any other failure ends it.
func (c *churner) churn(addr string, stop *atomic.Bool) error {
	// soft: an error on a connection the server has closed is not one.
	soft := func(err error) error {
		if err != nil && c.w.Connected() {
			return err
		}
		return nil
	}
	for !stop.Load() {
		if !c.w.Connected() {
			c.cutOff++
			if err := c.w.Dial(addr); err != nil {
				return err
			}
		}
		r := c.rigs[rand.IntN(len(c.rigs))]
		switch x := rand.IntN(10); {
		case x < 6: // resubscribe at a random since
			if c.w.Subscribed(r.channel) {
				if err := soft(c.w.Unsubscribe(r.channel)); err != nil {
					return err
				}
			}
			s, floor := randomSince(r)
			if err := soft(c.w.Subscribe(r.channel, s, floor)); err != nil {
				return err
			}
			c.resubscribes++
		case x < 8:
			if c.w.Subscribed(r.channel) {
				if err := soft(c.w.Unsubscribe(r.channel)); err != nil {
					return err
				}
			}
		case x < 9: // a new connection resumes every channel from its last seq
			c.reconnects++
			if err := c.w.Dial(addr); err != nil {
				return err
			}
			if err := soft(c.subscribeAll(true)); err != nil {
				return err
			}
		default:
			if !c.w.Subscribed(r.channel) {
				s, floor := randomSince(r)
				if err := soft(c.w.Subscribe(r.channel, s, floor)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// subscribeAll subscribes every channel not subscribed: resuming from the
// last seq received (when resume and there is one) or at a random since.
func (c *churner) subscribeAll(resume bool) error {
	for _, r := range c.rigs {
		if c.w.Subscribed(r.channel) {
			continue
		}
		s, floor := randomSince(r)
		if last := c.w.Last(r.channel); resume && last >= 0 {
			s, floor = since(last), 0
		}
		if err := c.w.Subscribe(r.channel, s, floor); err != nil {
			return fmt.Errorf("subscribe %s: %w", r.channel, err)
		}
	}
	return nil
}

// TestI4UnderChurn: watchers resubscribe at random since values, unsubscribe
// and reconnect while commits go on through the order actors, and the
// hooks lose live events (gaps), fail journal reads and stretch them (so
// commits race them). Every stream must be its since+1… of the journal,
// each event once, in order, and every open one complete.
func TestI4UnderChurn(t *testing.T) {
	const (
		customers, ordersEach = 3, 2
		steps                 = 60 // commits per order besides its creation and cancellation
		watchersEach          = 2  // per customer; as many again for the admin
	)
	// Watchers send far more than a phone would: the inbound rate limit
	// is not what this test is about.
	n, a := e2e.Up(t, func(cfg *app.Config) { cfg.WS.InboundRate, cfg.WS.InboundBurst = 1e6, 1e6 })
	var rigs []*rig
	var churners []*churner
	for range customers {
		cust := a.Signup(t)
		mine := make([]*rig, ordersEach)
		for i := range mine {
			mine[i] = newRig(t, a, cust)
		}
		rigs = append(rigs, mine...)
		for range watchersEach {
			churners = append(churners, &churner{w: wstest.NewWatcher(cust.Token), rigs: mine})
		}
	}
	for range customers * watchersEach {
		churners = append(churners, &churner{w: wstest.NewWatcher(a.Admin.Token), rigs: rigs})
	}

	var lost, failed, stretched atomic.Int64
	var finishing atomic.Bool // the last events must not be lost: nothing would follow to show the gap
	ws.SetHooks(t, ws.Hooks{
		Live: func(_ ws.Sub, _ int64) bool {
			if !finishing.Load() && rand.IntN(20) == 0 {
				lost.Add(1)
				return false
			}
			return true
		},
		Replay: func(_ ws.Sub, _ int64, read bool) error {
			switch {
			case !read && rand.IntN(30) == 0:
				failed.Add(1)
				return errors.New("test: journal read failed")
			case read && rand.IntN(3) == 0:
				stretched.Add(1)
				for range 200 {
					runtime.Gosched()
				}
			}
			return nil
		},
	})

	for _, c := range churners {
		t.Cleanup(c.w.Close)
		require.NoError(t, c.w.Dial(n.Addr()))
		require.NoError(t, c.subscribeAll(false))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, len(churners)+len(rigs))
	for _, c := range churners {
		wg.Go(func() {
			if err := c.churn(n.Addr(), &stop); err != nil {
				errs <- fmt.Errorf("watcher: %w", err)
			}
		})
	}
	// The commits' kit calls report to g, not to t: FailNow must not run
	// off the test's goroutine.
	g := e2e.NewGoT(t.Context())
	var commits sync.WaitGroup
	for _, r := range rigs {
		commits.Go(func() {
			for range steps {
				if err := r.step(g); err != nil {
					errs <- fmt.Errorf("commit: %w", err)
					return
				}
			}
		})
	}
	commits.Wait()
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Empty(t, g.Failures())

	// Every watcher watches every channel it may, then each order's last
	// event, which every open stream must get.
	for _, c := range churners {
		if !c.w.Connected() {
			require.NoError(t, c.w.Dial(n.Addr()))
		}
		require.NoError(t, c.subscribeAll(false))
	}
	finishing.Store(true)
	for _, r := range rigs {
		require.NoError(t, r.finish(t))
	}
	latest := map[string]int64{}
	for _, r := range rigs {
		latest[r.id] = r.acked.Load()
	}
	watchers := make([]*wstest.Watcher, len(churners))
	for i, c := range churners {
		watchers[i] = c.w
	}
	require.Empty(t, wstest.WaitCaughtUp(20*time.Second, latest, watchers...))
	js, _ := journals(t, n, rigs...)
	events := wstest.Check(t, js, watchers...)

	streams, resubscribes, reconnects, cutOff := 0, 0, 0, 0
	for _, c := range churners {
		streams += len(c.w.Streams())
		resubscribes += c.resubscribes
		reconnects += c.reconnects
		cutOff += c.cutOff
	}
	t.Logf("%d orders × %d events, %d watchers: %d streams (%d resubscribes at random since, %d reconnects, %d cut off by the node), "+
		"%d events checked against the journal; hooks lost %d live events, failed %d reads, stretched %d",
		len(rigs), steps+2, len(churners), streams, resubscribes, reconnects, cutOff, events, lost.Load(), failed.Load(), stretched.Load())
	require.Greater(t, resubscribes, 10*len(churners), "enough churn to mean something")
}

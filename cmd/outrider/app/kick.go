package app

import (
	"context"
	"sync"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/dispatch/engine"
	"github.com/outrider/outrider/internal/tracing"
)

// Kicks run a dispatch round due at once on the node whose commit armed
// it, without going through the deadline row: no claim, no lease, no
// delete, no wait for the scheduler's next look. The row stays, due
// order.RoundGrace later, as the safety net: it fires if this node dies,
// the kick queue is full, or the round found nobody or failed. A round
// that runs twice (kicked, and its row fired before the kick's offer was
// committed) offers once: the order takes one offer per run and driver.

// Bounds of the kicks.
const (
	kickQueue   = 4096
	kickWorkers = 16
	kickTimeout = 10 * time.Second
)

type kicker struct {
	engine *engine.Engine
	queue  chan actors.Deadline
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newKicker(e *engine.Engine) *kicker {
	k := &kicker{engine: e, queue: make(chan actors.Deadline, kickQueue)}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	for range kickWorkers {
		k.wg.Add(1)
		go k.work()
	}
	return k
}

func (k *kicker) work() {
	defer k.wg.Done()
	for {
		select {
		case <-k.ctx.Done():
			return
		case d := <-k.queue:
			ctx, cancel := context.WithTimeout(tracing.FromTraceparent(k.ctx, d.Trace), kickTimeout)
			// Any outcome but an offer leaves the row to fire: nothing to do.
			_ = k.engine.Round(ctx, d)
			cancel()
		}
	}
}

// kick queues the rounds among armed that ask for a kick; a full queue
// leaves them to their rows. It never blocks (it runs in an actor).
func (k *kicker) kick(armed []actors.Deadline) {
	for _, d := range armed {
		if !d.Kick || d.Kind != order.DeadlineDispatch {
			continue
		}
		select {
		case k.queue <- d:
		default:
		}
	}
}

func (k *kicker) stop() {
	k.cancel()
	k.wg.Wait()
}

package host

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/outrider/outrider/internal/gopool"
)

// mailboxRuns schedules every actor's mailbox runs (order, driver, user,
// zone) on kept goroutines. Proto.Actor's default dispatcher starts a
// goroutine per run; a driver's run per location fix goes deep (decide,
// the zone's tell, the fan-out), so at 10,000 fixes a second the node
// spent 16 % of its CPU growing fresh goroutines' stacks (BENCHMARKS.md,
// "A dispatch shift"). The pool is elastic, so a run that blocks (a
// commit, a request to another actor) never holds another back, and it
// is shared by every Host of the process, as the default dispatcher is.
var mailboxRuns actor.Dispatcher = poolDispatcher{pool: gopool.New(0), throughput: 300}

// poolDispatcher is a Proto.Actor dispatcher on a gopool.Pool; throughput
// is how many messages one run takes before it yields (the default
// dispatcher's 300).
type poolDispatcher struct {
	pool       *gopool.Pool
	throughput int
}

func (d poolDispatcher) Schedule(fn func()) { d.pool.Go(fn) }

func (d poolDispatcher) Throughput() int { return d.throughput }

// Package gopool runs tasks on goroutines that stay for a while after
// their task, waiting for the next one.
//
// A goroutine starts with a small stack and grows it, copying it each
// time it doubles, as its calls go deeper. Where a node starts a fresh
// goroutine per event and every event goes deep — a socket's reader per
// readable socket, an actor's mailbox run per message (Proto.Actor's
// default dispatcher) — the copying adds up: at 10,000 location fixes a
// second it took 16 % of a node's CPU (BENCHMARKS.md, "A dispatch
// shift"). A kept goroutine keeps its grown stack for the next task.
//
// The pool is elastic: a task that finds no idle goroutine starts a new
// one, so tasks never wait for each other and a task that blocks (an
// actor waiting on another) cannot starve the rest. Idle goroutines leave
// after Keep.
package gopool

import (
	"sync/atomic"
	"time"
)

// DefaultKeep is how long an idle goroutine waits for a task by default.
const DefaultKeep = 2 * time.Second

// Pool runs tasks on kept goroutines. The zero value is not usable; use
// New. A Pool is safe for concurrent use and needs no closing: its idle
// goroutines leave on their own.
type Pool struct {
	keep  time.Duration
	tasks chan func() // unbuffered: a send succeeds only into an idle goroutine

	started, reused atomic.Int64
	idle            atomic.Int64
}

// New returns a pool whose idle goroutines leave after keep (DefaultKeep
// if keep ≤ 0).
func New(keep time.Duration) *Pool {
	if keep <= 0 {
		keep = DefaultKeep
	}
	return &Pool{keep: keep, tasks: make(chan func())}
}

// Go runs f on an idle goroutine of the pool, or on a new one if none is
// idle. It never blocks.
func (p *Pool) Go(f func()) {
	select {
	case p.tasks <- f:
		p.reused.Add(1)
	default:
		p.started.Add(1)
		go p.work(f)
	}
}

func (p *Pool) work(f func()) {
	timer := time.NewTimer(p.keep)
	defer timer.Stop()
	for {
		f()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(p.keep)
		p.idle.Add(1)
		select {
		case f = <-p.tasks:
			p.idle.Add(-1)
		case <-timer.C:
			p.idle.Add(-1)
			return
		}
	}
}

// Stats are a pool's counts: goroutines started, tasks that found an idle
// goroutine, and goroutines idle now.
type Stats struct{ Started, Reused, Idle int64 }

// Stats returns the pool's counts.
func (p *Pool) Stats() Stats {
	return Stats{Started: p.started.Load(), Reused: p.reused.Load(), Idle: p.idle.Load()}
}

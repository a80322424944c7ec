package host

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Idle passivation. Proto.Actor's ReceiveTimeout would give every
// activation a timer and the context extras that hold it: a few hundred
// bytes each idle actor keeps for nothing (an idle driver's socket keeps
// its user's actor alive for hours). Instead each activation notes when it
// last handled a message, and one sweep per host asks those idle for
// IdleTimeout to stop. The actor decides in its own mailbox, so a message
// that arrived in the meantime keeps it alive.

// idleCheck asks an activation to stop if it is still idle.
type idleCheck struct{}

// idleClock is what the sweep needs of an activation.
type idleClock struct {
	self   *actor.PID
	system *actor.ActorSystem
	last   atomic.Int64 // UnixNano of the last message handled
}

func (c *idleClock) start(ctx actor.Context) {
	c.self, c.system = ctx.Self(), ctx.ActorSystem()
	c.touch()
}

func (c *idleClock) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *idleClock) idleFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, c.last.Load()))
}

// sweeper tracks a host's live activations. Its goroutine runs only while
// there are any, so a host needs no lifecycle of its own.
type sweeper struct {
	timeout time.Duration
	mu      sync.Mutex
	live    map[*idleClock]struct{}
	running bool
}

func (s *sweeper) add(c *idleClock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		s.live = map[*idleClock]struct{}{}
	}
	s.live[c] = struct{}{}
	if !s.running {
		s.running = true
		go s.run()
	}
}

func (s *sweeper) remove(c *idleClock) {
	s.mu.Lock()
	delete(s.live, c)
	s.mu.Unlock()
}

// run sweeps four times per timeout, so an actor passivates between one
// and one and a quarter timeouts after its last message.
func (s *sweeper) run() {
	t := time.NewTicker(s.timeout / 4)
	defer t.Stop()
	var idle []*idleClock
	for now := range t.C {
		s.mu.Lock()
		if len(s.live) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		idle = idle[:0]
		for c := range s.live {
			if c.idleFor(now) >= s.timeout {
				idle = append(idle, c)
			}
		}
		s.mu.Unlock()
		for _, c := range idle {
			c.system.Root.Send(c.self, idleCheck{})
		}
	}
}

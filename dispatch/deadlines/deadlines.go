// Package deadlines fires the deadline rows the actors arm in their
// commits (actors.Deadline: an offer's expiry, later a dispatch round or a
// scheduled order's start). Start here: Scheduler.run.
//
// Every node that serves the API runs a Scheduler. Each claims due
// deadlines from the store with a lease (persistence.Deadlines), sends
// each one's command to its entity through Fire, and deletes the row once
// the entity has answered. A node that dies holding a lease lets it run
// out and another node claims the deadline again, so a deadline fires at
// least once whatever node is killed; the entity decides whether the
// command still applies (an offer already accepted does not expire), so
// firing twice changes nothing twice.
package deadlines

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/internal/backoff"
	"github.com/outrider/outrider/persistence"
)

// Fire sends a due deadline's command to its entity. nil means the
// entity settled it (applied it, or refused it for good: the offer was no
// longer open) and the row can go; a *Later (Postpone) has the row fired
// again at its time; any other error leaves the row to be fired again
// when the lease runs out.
type Fire func(ctx context.Context, d actors.Deadline) error

// Later is the error a Fire returns to have its deadline fired again at
// At instead of now: the entity is not ready for the command yet (a
// dispatch round that found no driver, say). The scheduler moves the row
// to At and ends its lease (persistence.Deadlines.PostponeDeadline), so
// whichever scheduler is up then fires it; a re-arm or removal by the
// entity in the meantime wins. A Fire may wrap it. An At that is not
// in the future has the deadline fired again at the next round.
type Later struct{ At time.Time }

func (l *Later) Error() string {
	return "deadline postponed to " + l.At.UTC().Format(time.RFC3339Nano)
}

// Postpone returns a *Later: the error a Fire returns to have its
// deadline fired again at at.
func Postpone(at time.Time) error { return &Later{At: at} }

// Defaults of Config.
const (
	DefaultLease       = 15 * time.Second
	DefaultBatch       = 64
	DefaultIdle        = time.Second
	DefaultConcurrency = 8
	DefaultFireTimeout = 10 * time.Second
)

// Config configures a Scheduler.
type Config struct {
	// Owner names this scheduler in leases (the node's member id). Required.
	Owner string
	// Lease is how long a claimed deadline is this scheduler's; one that
	// is not fired and deleted by then is claimed again, here or
	// elsewhere. Default DefaultLease; it must exceed FireTimeout.
	Lease time.Duration
	// Batch is the most deadlines claimed at once. Default DefaultBatch.
	Batch int
	// Idle is the longest the scheduler sleeps between two looks at the
	// store (a deadline armed by another node is seen within it).
	// Default DefaultIdle.
	Idle time.Duration
	// Concurrency is how many deadlines are fired at once. Default
	// DefaultConcurrency.
	Concurrency int
	// FireTimeout bounds one Fire. Default DefaultFireTimeout.
	FireTimeout time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
	// Registerer receives the scheduler's metrics; nil registers none.
	Registerer prometheus.Registerer
}

func (c *Config) defaults() {
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Idle <= 0 {
		c.Idle = DefaultIdle
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.FireTimeout <= 0 {
		c.FireTimeout = DefaultFireTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Scheduler claims and fires due deadlines until stopped.
type Scheduler struct {
	cfg   Config
	store persistence.Deadlines
	fire  Fire

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	fired    *prometheus.CounterVec
	lateness prometheus.Histogram
}

// New returns a scheduler; Start runs it.
func New(store persistence.Deadlines, fire Fire, cfg Config) (*Scheduler, error) {
	cfg.defaults()
	if cfg.Owner == "" {
		return nil, errors.New("deadlines: Owner is required")
	}
	if cfg.Lease <= cfg.FireTimeout {
		return nil, errors.New("deadlines: Lease must exceed FireTimeout")
	}
	s := &Scheduler{cfg: cfg, store: store, fire: fire, wake: make(chan struct{}, 1),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outrider_deadlines_fired_total",
			Help: "Deadlines fired, by result (settled: the entity answered and the row went; postponed: the entity asked to be fired again at a later time; failed: fired again when its lease ends)."},
			[]string{"result"}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "outrider_deadline_lateness_seconds",
			Help:    "How long after its due time a deadline was fired.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 15, 30, 60}}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(s.fired); err != nil {
			return nil, err
		}
		if err := cfg.Registerer.Register(s.lateness); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start runs the scheduler in the background.
func (s *Scheduler) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
}

// Stop ends the scheduler and waits for the deadlines it is firing, or
// for ctx. Claimed deadlines it did not fire run out their leases.
func (s *Scheduler) Stop(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wake makes the scheduler look at the store now (a commit just armed a
// deadline that may be due soon). It never blocks.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduler) run(ctx context.Context) {
	var failures int
	for ctx.Err() == nil {
		n, err := s.round(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			s.cfg.Logger.Warn("deadlines: claim failed", "err", err)
			_ = backoff.Sleep(ctx, backoff.Ceiling(failures, 100*time.Millisecond, 5*time.Second))
			continue
		}
		failures = 0
		if n == s.cfg.Batch {
			continue // more may be due
		}
		s.sleep(ctx, n == 0)
	}
}

// minSleep is the shortest pause after a round that claimed nothing: the
// earliest deadline may be due but leased elsewhere (NextDeadline counts
// leased rows), and the lease holder fires it.
const minSleep = 25 * time.Millisecond

// sleep waits until the next deadline is due, at most Idle, or a Wake.
func (s *Scheduler) sleep(ctx context.Context, idle bool) {
	d := s.cfg.Idle
	if due, ok, err := s.store.NextDeadline(ctx); err == nil && ok {
		d = min(d, max(due.Sub(s.cfg.Now()), 0))
	}
	if idle {
		d = max(d, minSleep)
	}
	if d > 0 {
		backoff.SleepOrWake(ctx, d, s.wake)
	}
}

// round claims what is due and fires it; it returns how many it claimed.
func (s *Scheduler) round(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	due, err := s.store.ClaimDue(ctx, s.cfg.Owner, now, now.Add(s.cfg.Lease), s.cfg.Batch)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, d := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.fireOne(ctx, d)
		}()
	}
	wg.Wait()
	return len(due), nil
}

func (s *Scheduler) fireOne(ctx context.Context, d actors.Deadline) {
	s.lateness.Observe(max(s.cfg.Now().Sub(d.DueAt), 0).Seconds())
	fctx, cancel := context.WithTimeout(ctx, s.cfg.FireTimeout)
	err := s.fire(fctx, d)
	cancel()
	var later *Later
	if errors.As(err, &later) {
		s.fired.WithLabelValues("postponed").Inc()
		if err := s.store.PostponeDeadline(ctx, d.ID, s.cfg.Owner, later.At); err != nil && ctx.Err() == nil {
			// The row stays due: it fires again when the lease ends.
			s.cfg.Logger.Warn("deadlines: postpone failed", "deadline", d.ID, "at", later.At, "err", err)
		}
		return
	}
	if err != nil {
		s.fired.WithLabelValues("failed").Inc()
		if ctx.Err() == nil {
			s.cfg.Logger.Warn("deadlines: fire failed; it fires again when its lease ends",
				"deadline", d.ID, "err", err)
		}
		return
	}
	s.fired.WithLabelValues("settled").Inc()
	if err := s.store.DeleteDeadline(ctx, d.ID, s.cfg.Owner); err != nil && ctx.Err() == nil {
		// Fired and settled: the entity ignores the repeat after the lease.
		s.cfg.Logger.Warn("deadlines: delete failed", "deadline", d.ID, "err", err)
	}
}

// Package bus carries Outrider's domain events from the database to NATS.
//
// Start with Relay: the transactional outbox's publishing half. Actors
// commit outbox rows in the same transaction as their journal events
// (DESIGN.md §2); the relay reads the committed rows, oldest first,
// publishes them to a JetStream stream with Nats-Msg-Id set to the row's
// id, and only then marks them published. A crash anywhere in between
// re-publishes, and JetStream's de-duplication window turns the
// re-publish into a no-op, so each event is stored once.
//
// Ordering (I4). A watcher must see an order's events in sequence order,
// so the relay keeps the stream's order per subject equal to the journal's:
//
//   - One relay publishes at a time cluster-wide: whoever holds the Leader
//     (a Postgres advisory lock, persistence/postgres.Leader).
//   - Within a relay, a message is published only after every earlier
//     message of the same subject has been acknowledged (stored), while
//     messages of different subjects are pipelined up to MaxInFlight.
//     Hence every publisher — even two leaders overlapping for a
//     heartbeat — publishes each subject's sequence as an acknowledged
//     prefix, and the first copy of message k+1 reaches the stream after
//     message k is in it; later copies are de-duplicated.
//   - Rows are marked published only once acknowledged; a failed batch is
//     retried from its first unacknowledged row.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outrider/outrider/internal/backoff"
	"github.com/outrider/outrider/persistence"
)

// Leader grants the right to relay, cluster-wide, to one node at a time.
// persistence/postgres.(*Store).Leader implements it.
type Leader interface {
	// TryLead tries once, without waiting. On success (ok) leadership
	// lasts until release is called or held is closed, whichever is
	// first; release is idempotent. ok false with a nil error means
	// another node leads.
	TryLead(ctx context.Context) (held <-chan struct{}, release func(), ok bool, err error)
}

// Relay publishes committed outbox rows to JetStream. It is a long-lived
// component: Start once, Stop once. Notify is safe from any goroutine.
//
// Concurrency: one goroutine (run) owns leadership and every publish;
// Start and Stop are serialised by mu; wake is a one-slot mailbox.
type Relay struct {
	cfg    RelayConfig
	cfgErr error
	store  persistence.Outbox
	js     jetstream.JetStream
	leader Leader
	log    *slog.Logger
	m      *metrics

	wake chan struct{}

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewRelay builds a relay publishing store's outbox into js, leading
// through leader. It registers its metrics with reg (nil: none). An
// invalid cfg is reported by Start.
func NewRelay(cfg RelayConfig, store persistence.Outbox, js jetstream.JetStream, leader Leader, logger *slog.Logger, reg prometheus.Registerer) *Relay {
	if logger == nil {
		logger = slog.Default()
	}
	cfg, err := cfg.withDefaults()
	return &Relay{
		cfg: cfg, cfgErr: err, store: store, js: js, leader: leader,
		log:  logger.With(slog.String("component", "outbox-relay"), slog.String("stream", cfg.Stream)),
		m:    newMetrics(reg, logger),
		wake: make(chan struct{}, 1),
	}
}

// Start creates or updates the stream (file storage, limits retention,
// MaxAge, Duplicates) and starts relaying in the background: competing for
// leadership every LeaderRetry and, while leading, publishing. ctx bounds
// the stream set-up only. Start fails if the stream cannot be set up; a
// relay starts once.
func (r *Relay) Start(ctx context.Context) error {
	if r.cfgErr != nil {
		return r.cfgErr
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("bus: relay already started")
	}
	if _, err := r.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        r.cfg.Stream,
		Description: "Outrider domain events, relayed from the transactional outbox",
		Subjects:    r.cfg.Subjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      r.cfg.MaxAge,
		Duplicates:  r.cfg.Duplicates,
		Replicas:    r.cfg.Replicas,
	}); err != nil {
		return fmt.Errorf("bus: ensure stream %s: %w", r.cfg.Stream, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.started, r.cancel, r.done = true, cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(runCtx)
	}()
	r.log.Info("outbox relay started")
	return nil
}

// Stop stops relaying: the batch in progress is abandoned (what was
// acknowledged is still marked published) and leadership is released, so
// another node takes over within its LeaderRetry. It returns when that is
// done or ctx ends. Stop is idempotent and safe before Start.
func (r *Relay) Stop(ctx context.Context) error {
	r.mu.Lock()
	if !r.started {
		r.mu.Unlock()
		return nil
	}
	r.cancel()
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bus: stop relay: %w", ctx.Err())
	}
}

// Notify tells the relay that rows were committed, so a leading relay
// looks now instead of at its next poll. It never blocks; notifications
// that arrive while one is pending coalesce. On a node that does not
// lead it does nothing useful and costs nothing.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run competes for leadership until ctx ends, relaying while it leads.
func (r *Relay) run(ctx context.Context) {
	for {
		held, release, ok, err := r.leader.TryLead(ctx)
		switch {
		case ctx.Err() != nil:
			if ok {
				release()
			}
			return
		case err != nil:
			r.log.Warn("outbox relay: cannot contend for leadership", slog.Any("error", err))
		case ok:
			r.lead(ctx, held)
			release()
			r.m.leader.Set(0)
			r.log.Info("outbox relay: leadership ended")
		}
		if !backoff.SleepOrWake(ctx, r.cfg.LeaderRetry, nil) {
			return
		}
	}
}

// lead relays batches until ctx ends or held closes.
func (r *Relay) lead(ctx context.Context, held <-chan struct{}) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-held:
			cancel()
		case <-ctx.Done():
		}
	}()
	r.m.leader.Set(1)
	r.log.Info("outbox relay: leading")
	for ctx.Err() == nil {
		n, err := r.relayBatch(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Warn("outbox relay: batch failed, retrying", slog.Any("error", err))
			backoff.SleepOrWake(ctx, r.cfg.ErrorBackoff, nil)
		case n == r.cfg.BatchSize:
			// A full batch: more are likely waiting.
		default:
			if backoff.SleepOrWake(ctx, r.cfg.PollInterval, r.wake) && r.cfg.Linger > 0 {
				// Woken (or polled): let a burst of commits gather, so one
				// read and one delete carry many messages.
				backoff.SleepOrWake(ctx, r.cfg.Linger, nil)
			}
		}
	}
}

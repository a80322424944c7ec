// Package host runs the pure state machines of actors/order, actors/driver
// and actors/user as Proto.Actor actors, one activation per entity id.
//
// Every command goes through the same steps, in the actor's mailbox order:
// load the entity on first use (snapshot + journal tail), skip a command id
// already applied, decide, persist the events with everything they imply in
// one store commit, apply, reply. Nothing is replied before the commit.
//
// A commit the store refuses with a business guard (driver unavailable,
// e-mail taken) leaves the state untouched and is answered as a rejection.
// Any other failure — a journal conflict from a second activation (I5), a
// timeout, a lost connection — makes the actor answer "retry" and stop
// itself, dropping its state; the cluster client retries and the next
// activation reloads from the store, so a stale activation never writes.
package host

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	"github.com/outrider/outrider/internal/tracing"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Defaults of Config, which the node's flags and the README use too.
const (
	// DefaultIdleTimeout is Config.IdleTimeout's default; the node passes
	// cluster.DefaultIdleTimeout, the same value.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultStoreTimeout is Config.StoreTimeout's default.
	DefaultStoreTimeout = 5 * time.Second
)

// Config is shared by all actor kinds of a node.
type Config struct {
	// Store persists journals and read models. Required.
	Store actors.Store
	// Logger, default slog.Default().
	Logger *slog.Logger
	// IdleTimeout passivates an actor after this long without messages, so
	// memory holds only entities in use (idle.go). Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// StoreTimeout bounds one load or commit; past it the actor stops and
	// the caller retries. Default DefaultStoreTimeout.
	StoreTimeout time.Duration
	// Registerer receives the actor metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// AfterCommit, if set, is called after every successful commit (the
	// node uses it to wake the outbox relay). It must not block.
	AfterCommit func(actors.Commit)
	// Locations receives every fix a driver actor accepts (to fan it out
	// and record it). Nil drops them.
	Locations LocationSink
	// Inbox carries user actors' pushes and session closes to gateways,
	// and driver actors' availability and capacity changes to the
	// gateways' `fleet` watchers (wire.FleetDriverSubject). Nil drops
	// them.
	Inbox Publisher
	// Zones receives the driver actors' updates of the zone actors
	// (zone.go). Nil feeds no zone.
	Zones ZoneTeller
	// MaxPlausibleSpeed filters GPS jumps (m/s). Default
	// driver.MaxPlausibleSpeed.
	MaxPlausibleSpeed float64
}

// Publisher sends a message to a bus subject (the user actors reach
// gateway inboxes through it). It must not block for long.
type Publisher interface {
	Publish(subject string, data []byte) error
}

// LocationSink takes accepted driver fixes. Fix is called from the driver
// actor and must not block.
type LocationSink interface {
	Fix(driverID string, fix *pb.Fix)
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = DefaultStoreTimeout
	}
	if c.MaxPlausibleSpeed <= 0 {
		c.MaxPlausibleSpeed = driver.MaxPlausibleSpeed
	}
}

// Host builds the actor props of each kind.
type Host struct {
	cfg     Config
	metrics *metrics
	idle    *sweeper
}

// New returns a Host; it registers its metrics with cfg.Registerer.
func New(cfg Config) *Host {
	cfg.defaults()
	return &Host{cfg: cfg, metrics: newMetrics(cfg.Registerer), idle: &sweeper{timeout: cfg.IdleTimeout}}
}

// machine adapts one kind's pure state machine to the generic actor.
type machine[S any, C proto.Message] struct {
	kind    string
	restore func(actors.Loaded) (S, error)
	// decide returns the next state and the commit persisting it; a nil
	// commit means nothing changes (a read, a repeat, a no-op).
	decide func(s S, id string, cmd C) (S, *actors.Commit, *actors.Rejection, error)
	reply  func(s S, rej *actors.Rejection) proto.Message
	// creates reports whether cmd creates the entity under an id the
	// server just generated (so a first activation may skip its load).
	creates func(cmd C) bool
	// committed, if set, runs after cmd's events are committed and
	// applied (side effects that must not precede durability).
	committed func(s S, cmd C)
	// changed, if set, runs after a commit with the states before and
	// after it (the driver kind feeds its zone from it). It must not block.
	changed func(prev, next S, id string, cmd C)
}

// entity is one activation of one entity.
type entity[S any, C proto.Message] struct {
	idleClock
	h      *Host
	m      machine[S, C]
	id     string
	state  S
	loaded bool
	// trace is the span of the command being handled when its caller was
	// traced (the command's traceparent field), else nil.
	trace context.Context
}

func (e *entity[S, C]) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		e.start(ctx)
		e.h.idle.add(&e.idleClock)
		e.h.metrics.activations.WithLabelValues(e.m.kind).Inc()
		e.h.metrics.active.WithLabelValues(e.m.kind).Inc()
	case *pcluster.ClusterInit:
		// The library's middleware sends one without an identity; the
		// placement actor sends the one with it (cluster/lookup.go).
		if msg.Identity != nil {
			e.id = msg.Identity.Identity
		}
	case idleCheck:
		if e.idleFor(time.Now()) >= e.h.cfg.IdleTimeout {
			ctx.Stop(ctx.Self())
		}
	case *actor.Stopped:
		e.h.idle.remove(&e.idleClock)
		e.h.metrics.active.WithLabelValues(e.m.kind).Dec()
	case C:
		e.touch()
		span := e.startTrace(msg)
		reply := e.handle(ctx, msg)
		if span != nil {
			span.End()
			e.trace = nil
		}
		if ctx.Sender() != nil { // told messages (location fixes) get no answer
			ctx.Respond(reply)
		}
	}
}

func (e *entity[S, C]) handle(ctx actor.Context, cmd C) proto.Message {
	// A create aimed at a fresh server-generated id has nothing to load:
	// decide it on an empty state and save the read. If the entity does
	// exist after all (a retried create), the journal key refuses the
	// commit and the command is decided again on the loaded truth.
	blind := !e.loaded && e.m.creates != nil && e.m.creates(cmd)
	if blind {
		var zero S
		e.state, e.loaded = zero, true
	}
	for redecided := 0; ; redecided++ {
		if !e.loaded {
			if err := e.load(); err != nil {
				return e.fail(ctx, "load", err)
			}
		}
		reply, next := e.apply(ctx, cmd, blind)
		switch next {
		case decided:
			return reply
		case behind:
			if redecided >= maxRedecisions {
				return e.fail(ctx, "confirm", errors.New("the store kept moving past this activation"))
			}
			e.h.metrics.redecided.WithLabelValues(e.m.kind).Inc()
		}
		blind, e.loaded = false, false
	}
}

// maxRedecisions bounds how often one command is decided again because
// the store moved on meanwhile; past it the caller retries from scratch.
const maxRedecisions = 3

// outcome says what handle does after one decision.
type outcome int

const (
	decided  outcome = iota // reply is the answer
	conflict                // a blind create met an existing entity: load, decide again
	behind                  // a refusal was decided on state older than the store's: load, decide again
)

// apply decides cmd on the current state, commits and applies.
//
// A refusal is only answered once it is confirmed (DESIGN.md §8): the
// fence on commits stops a stale activation from writing, but a refusal
// writes nothing and would never meet it. So before refusing, the actor
// probes the journal's newest seq; when another activation has committed
// since this one loaded, the state is reloaded and the command decided
// again. A refusal by a store guard needs no probe: the store checked it
// against the committed rows.
func (e *entity[S, C]) apply(ctx actor.Context, cmd C, blind bool) (proto.Message, outcome) {
	next, commit, rej, err := e.m.decide(e.state, e.id, cmd)
	if err != nil && !errors.As(err, &rej) {
		return e.fail(ctx, "decide", err), decided
	}
	if rej != nil {
		current, err := e.confirm()
		if err != nil {
			return e.fail(ctx, "confirm", err), decided
		}
		if !current {
			return nil, behind
		}
		return e.m.reply(e.state, rej), decided
	}
	if commit != nil {
		c, cancel := context.WithTimeout(context.Background(), e.h.cfg.StoreTimeout)
		span := e.traceCommit(commit)
		began := time.Now()
		err := e.h.cfg.Store.Commit(c, *commit)
		e.h.metrics.commits.WithLabelValues(e.m.kind).Observe(time.Since(began).Seconds())
		cancel()
		if span != nil {
			tracing.End(span, err)
		}
		if err != nil {
			if blind && errors.Is(err, actors.ErrConflict) {
				return nil, conflict
			}
			if rej := guardRejection(err); rej != nil {
				return e.m.reply(e.state, rej), decided
			}
			return e.fail(ctx, "commit", err), decided
		}
		if e.h.cfg.AfterCommit != nil {
			e.h.cfg.AfterCommit(*commit)
		}
	}
	prev := e.state
	e.state = next
	if commit != nil && e.m.committed != nil {
		e.m.committed(e.state, cmd)
	}
	if commit != nil && e.m.changed != nil {
		e.m.changed(prev, e.state, e.id, cmd)
	}
	return e.m.reply(e.state, nil), decided
}

// confirm reports whether the state this activation holds is the newest
// committed one: the store's version of the entity is not past it.
func (e *entity[S, C]) confirm() (bool, error) {
	c, cancel := context.WithTimeout(context.Background(), e.h.cfg.StoreTimeout)
	defer cancel()
	v, err := e.h.cfg.Store.Version(c, e.m.kind, e.id)
	if err != nil {
		return false, err
	}
	have := any(e.state).(versioned).GetVersion()
	if v > have {
		e.h.cfg.Logger.Info("refusal decided on stale state; deciding again",
			"kind", e.m.kind, "id", e.id, "had", have, "store", v)
		return false, nil
	}
	return true, nil
}

// versioned is what every kind's state is: it knows the last journal seq
// it applied.
type versioned interface{ GetVersion() int64 }

func (e *entity[S, C]) load() error {
	c, cancel := context.WithTimeout(context.Background(), e.h.cfg.StoreTimeout)
	defer cancel()
	l, err := e.h.cfg.Store.Load(c, e.m.kind, e.id)
	if err != nil {
		return err
	}
	s, err := e.m.restore(l)
	if err != nil {
		return err
	}
	e.state, e.loaded = s, true
	return nil
}

// fail stops the activation after a storage failure and answers "retry":
// the caller's retry reaches a fresh activation that reloads the truth.
func (e *entity[S, C]) fail(ctx actor.Context, step string, err error) proto.Message {
	level := slog.LevelWarn
	if errors.Is(err, actors.ErrConflict) {
		e.h.metrics.conflicts.WithLabelValues(e.m.kind).Inc()
		level = slog.LevelInfo
	}
	e.h.cfg.Logger.Log(context.Background(), level, "actor stopping after failure",
		"kind", e.m.kind, "id", e.id, "step", step, "err", err)
	var zero S
	e.state, e.loaded = zero, false
	ctx.Stop(ctx.Self())
	return e.m.reply(zero, actors.Reject(actors.CodeRetry, "the entity was reloaded; retry the command"))
}

// guardRejection maps a store guard refusal to its rejection.
func guardRejection(err error) *actors.Rejection {
	var rej *actors.Rejection
	switch {
	case errors.As(err, &rej):
		return rej
	case errors.Is(err, actors.ErrDriverUnavailable):
		return actors.Reject(actors.CodeDriverUnavailable, "the driver is offline or at capacity")
	case errors.Is(err, actors.ErrDriverNotFound):
		return actors.Reject(actors.CodeDriverNotFound, "no such driver")
	case errors.Is(err, actors.ErrEmailTaken):
		return actors.Reject(actors.CodeEmailTaken, "that e-mail is already registered")
	case errors.Is(err, actors.ErrCapacityInUse):
		return actors.Reject(actors.CodeCapacityInUse, "the driver holds more orders than that capacity")
	case errors.Is(err, actors.ErrLastAdmin):
		return actors.Reject(actors.CodeLastAdmin, "no other active admin would remain")
	}
	return nil
}

// props builds a kind's Props. The mailbox is the lock-free linked queue:
// the default one starts every activation with a ring of ten slots, about
// 200 bytes an idle actor never uses.
func props[S any, C proto.Message](h *Host, m machine[S, C]) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &entity[S, C]{h: h, m: m} },
		actor.WithMailbox(actor.UnboundedLockfree()), actor.WithDispatcher(mailboxRuns))
}

type metrics struct {
	fixes       *prometheus.CounterVec
	activations *prometheus.CounterVec
	active      *prometheus.GaugeVec
	conflicts   *prometheus.CounterVec
	redecided   *prometheus.CounterVec
	commits     *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fixes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_driver_fixes_total", Help: "Driver location fixes by outcome (accepted, stale, jump, invalid, unknown_driver).",
		}, []string{"outcome"}),
		activations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_actor_activations_total", Help: "Actor activations by kind.",
		}, []string{"kind"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "outrider_actor_active", Help: "Actors currently activated on this node, by kind.",
		}, []string{"kind"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_actor_journal_conflicts_total", Help: "Commits refused by the journal fence because another activation wrote first (I5).",
		}, []string{"kind"}),
		redecided: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_actor_refusals_redecided_total", Help: "Refusals found to rest on state older than the store's, so the command was decided again on the reloaded state.",
		}, []string{"kind"}),
		commits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "outrider_actor_commit_seconds", Help: "Time an actor waits for its commit (journal, read model, outbox, deadlines in one transaction), by kind; failed commits included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.activations, m.active, m.conflicts, m.redecided, m.fixes, m.commits)
	}
	// The journaled kinds' fence and re-decision series exist from the
	// start, at 0: Prometheus's increase() cannot see a counter's first
	// step from absent to 1, and these are rare events an alert watches
	// (deploy/prometheus, OutriderFenceRejections).
	for _, kind := range []string{actors.KindOrder, actors.KindDriver, actors.KindUser} {
		m.conflicts.WithLabelValues(kind)
		m.redecided.WithLabelValues(kind)
	}
	return m
}

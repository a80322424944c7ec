// Package engine is automatic dispatch's search (DESIGN.md §7): it fires
// the dispatch round deadlines that the order actors arm, ranks the
// drivers near the pickup and proposes the best to the order, one at a
// time. The order decides (actors/order/dispatch.go): it takes an offer
// only for its current run and a driver it has not offered yet, and it
// settles declines, expiries and escalation by max attempts; the store's
// capacity guard refuses a driver with no spare slot. Start here: Round.
//
// A round runs on whichever node's deadline scheduler claimed the row,
// and holds no state: what it needs rides in the row (pb.DispatchRound),
// and the order's answer settles it. A round that finds nobody asks to be
// fired again a RoundInterval later, with a wider circle; one that runs
// past the run's deadline escalates it.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/dispatch/deadlines"
	"github.com/outrider/outrider/internal/tracing"
	"github.com/outrider/outrider/persistence"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Orders sends a command to an order actor (the cluster's typed client).
type Orders interface {
	Order(ctx context.Context, id string, cmd *pb.OrderCommand) (*pb.OrderReply, error)
}

// Drivers reads the candidates' availability and spare capacity (the
// read model) before offering, in one query.
type Drivers interface {
	DriverSlots(ctx context.Context, ids []string) (map[string]persistence.DriverSlot, error)
}

// Defaults of Config, which the node's flags and the README use too.
const (
	DefaultRadiusM       = 5000
	DefaultMaxFixAge     = time.Minute
	DefaultRoundInterval = 10 * time.Second
	DefaultCandidates    = 10
	// DefaultWidening is how many times the circle doubles, a round
	// interval apart, before it stops growing (5 km → 10 → 20 km).
	DefaultWidening = 2
	// MaxRadiusM bounds the widened circle, as GET /v1/drivers/nearby
	// bounds its radius_m.
	MaxRadiusM = 50_000
)

// Config configures an Engine.
type Config struct {
	// RadiusM is the first round's circle around the pickup (metres).
	RadiusM float64
	// Widening is how many times the circle doubles, once per
	// RoundInterval since the run started.
	Widening int
	// MaxFixAge leaves out drivers whose last fix is older.
	MaxFixAge time.Duration
	// RoundInterval is how long a round that found nobody waits before
	// the next.
	RoundInterval time.Duration
	// Candidates is how many drivers a round ranks.
	Candidates int
	// OfferTTL is how long a driver has to accept the engine's offer.
	OfferTTL time.Duration
	// Score ranks candidates (lower is better); default Distance.
	Score Scorer
	Now   func() time.Time
	// Logger, default slog.Default().
	Logger *slog.Logger
	// Registerer receives the engine's metrics; nil registers none.
	Registerer prometheus.Registerer
}

func (c *Config) defaults() {
	if c.RadiusM <= 0 {
		c.RadiusM = DefaultRadiusM
	}
	if c.Widening < 0 {
		c.Widening = 0
	}
	if c.MaxFixAge <= 0 {
		c.MaxFixAge = DefaultMaxFixAge
	}
	if c.RoundInterval <= 0 {
		c.RoundInterval = DefaultRoundInterval
	}
	if c.Candidates <= 0 {
		c.Candidates = DefaultCandidates
	}
	if c.OfferTTL <= 0 {
		c.OfferTTL = 45 * time.Second
	}
	if c.Score == nil {
		c.Score = Distance
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Candidate is a driver a round may offer the order to.
type Candidate struct {
	DriverID  string
	DistanceM float64 // straight line to the pickup
	FixAge    time.Duration
	Active    int // orders and open offers he holds
	Capacity  int
}

// Scorer ranks a candidate for an order: lower is better. It is the one
// place a ranking lives, so a later change (ETA over the road network,
// load balancing) replaces this function and nothing else.
type Scorer func(c Candidate) float64

// Distance is the default Scorer: the straight-line distance to the
// pickup in metres. Ties go to the lower driver id.
func Distance(c Candidate) float64 { return c.DistanceM }

// Engine runs dispatch rounds.
type Engine struct {
	cfg     Config
	zones   Zones
	orders  Orders
	drivers Drivers

	rounds   *prometheus.CounterVec
	duration prometheus.Histogram
}

// Round results (the outrider_dispatch_rounds_total label).
const (
	resultOffered   = "offered"
	resultEmpty     = "empty"
	resultEscalated = "escalated"
	resultSettled   = "settled"
)

// New returns an engine.
func New(zones Zones, orders Orders, drivers Drivers, cfg Config) (*Engine, error) {
	cfg.defaults()
	e := &Engine{cfg: cfg, zones: zones, orders: orders, drivers: drivers,
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outrider_dispatch_rounds_total",
			Help: "Dispatch rounds, by result (offered: a driver got the offer; empty: nobody to offer, tried again later; " +
				"escalated: the run's deadline passed; settled: the run was over)."}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "outrider_dispatch_round_seconds",
			Help:    "How long one dispatch round took, from the deadline claimed to the order's answer.",
			Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
	}
	for _, r := range []string{resultOffered, resultEmpty, resultEscalated, resultSettled} {
		e.rounds.WithLabelValues(r)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{e.rounds, e.duration} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// Radius is the circle of a round at elapsed since the run started: it
// doubles every RoundInterval, Widening times at most, and never passes
// MaxRadiusM.
func (e *Engine) Radius(elapsed time.Duration) float64 {
	k := 0
	if elapsed > 0 {
		k = min(int(elapsed/e.cfg.RoundInterval), e.cfg.Widening)
	}
	return min(e.cfg.RadiusM*math.Pow(2, float64(k)), MaxRadiusM)
}

// Round fires one dispatch round deadline (kind order.DeadlineDispatch).
// nil settles the row: an offer was made, the run escalated, or it was
// over already. deadlines.Postpone asks for the next round; any other
// error leaves the row to be fired again when its lease runs out.
func (e *Engine) Round(ctx context.Context, d actors.Deadline) (err error) {
	// A round kicked by a traced commit continues its trace.
	ctx, span := tracing.StartIfTraced(ctx, "dispatch.round", trace.SpanKindInternal, attribute.String("outrider.order", d.EntityID))
	defer func() {
		var later *deadlines.Later
		if errors.As(err, &later) { // asks for the next round: no failure
			span.SetAttributes(attribute.String("outrider.next_round", later.At.UTC().Format(time.RFC3339Nano)))
			span.End()
			return
		}
		tracing.End(span, err)
	}()
	start := e.cfg.Now()
	defer func() { e.duration.Observe(e.cfg.Now().Sub(start).Seconds()) }()
	r := &pb.DispatchRound{}
	if err := proto.Unmarshal(d.Command, r); err != nil || r.OrderId == "" {
		e.cfg.Logger.Error("undecodable dispatch round; dropped", "deadline", d.ID, "err", err)
		return nil
	}
	now := e.cfg.Now()
	if now.UnixMilli() >= r.DeadlineAtMs {
		return e.escalate(ctx, r, now)
	}
	radius := e.Radius(now.Sub(time.UnixMilli(r.StartsAtMs)))
	cands, considered, err := e.candidates(ctx, r, radius, now)
	if err != nil {
		return err
	}
	offer := &pb.DispatchOffer{Run: r.Run, RadiusM: radius, Considered: int32(considered)}
	for _, c := range cands {
		offer.Candidates = append(offer.Candidates, &pb.DispatchCandidate{DriverId: c.DriverID, DistanceM: c.DistanceM, Score: e.cfg.Score(c)})
	}
	for i, c := range cands {
		offer.Score = offer.Candidates[i].Score
		at := e.cfg.Now()
		cmd := &pb.OrderCommand{
			// One id per run and driver: a round fired again after a crash
			// repeats the same command, which the order answers once.
			CommandId: fmt.Sprintf("dispatch:%s:%d:%s", r.OrderId, r.Run, c.DriverID),
			By:        order.EnginePrincipal, AtMs: at.UnixMilli(),
			Body: &pb.OrderCommand_Assign{Assign: &pb.AssignDriver{DriverId: c.DriverID,
				OfferExpiresAtMs: at.Add(e.cfg.OfferTTL).UnixMilli(), HasDistance: true, DistanceM: c.DistanceM,
				Dispatch: offer}},
		}
		reply, err := e.orders.Order(ctx, r.OrderId, cmd)
		if err != nil {
			return err
		}
		rej := reply.GetRejection()
		if rej == nil {
			e.rounds.WithLabelValues(resultOffered).Inc()
			return nil
		}
		switch rej.Code {
		case actors.CodeDriverUnavailable, actors.CodeDriverNotFound:
			continue // full since the read, or cooled: the next one
		}
		e.rounds.WithLabelValues(resultSettled).Inc()
		return nil // the run is over, or the order moved on
	}
	e.rounds.WithLabelValues(resultEmpty).Inc()
	next := now.Add(e.cfg.RoundInterval)
	if deadline := time.UnixMilli(r.DeadlineAtMs); next.After(deadline) {
		next = deadline
	}
	return deadlines.Postpone(next)
}

func (e *Engine) escalate(ctx context.Context, r *pb.DispatchRound, now time.Time) error {
	reply, err := e.orders.Order(ctx, r.OrderId, &pb.OrderCommand{
		CommandId: fmt.Sprintf("dispatch-escalate:%s:%d", r.OrderId, r.Run),
		By:        order.EnginePrincipal, AtMs: now.UnixMilli(),
		Body: &pb.OrderCommand_EscalateDispatch{EscalateDispatch: &pb.EscalateDispatch{Run: r.Run, Reason: order.EscalatedDeadline}},
	})
	if err != nil {
		return err
	}
	if reply.GetRejection() == nil {
		e.rounds.WithLabelValues(resultEscalated).Inc()
	} else {
		e.rounds.WithLabelValues(resultSettled).Inc()
	}
	return nil
}

// candidates are the drivers a round may offer to, best first: the
// zones' nearest available drivers with a fresh fix within radius, not
// cooled, whose record says they are available with a spare slot.
// considered is how many the zones returned.
func (e *Engine) candidates(ctx context.Context, r *pb.DispatchRound, radius float64, now time.Time) ([]Candidate, int, error) {
	hits, err := Nearest(ctx, e.zones, &pb.ZoneNearest{Lat: r.Lat, Lng: r.Lng, RadiusM: radius,
		Limit: int32(e.cfg.Candidates), AvailableOnly: true, MaxFixAgeMs: e.cfg.MaxFixAge.Milliseconds(),
		Exclude: r.Cooled})
	if err != nil {
		return nil, 0, fmt.Errorf("search zones: %w", err)
	}
	if len(hits) == 0 {
		return nil, 0, nil
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.DriverId
	}
	slots, err := e.drivers.DriverSlots(ctx, ids)
	if err != nil {
		return nil, 0, fmt.Errorf("read candidates: %w", err)
	}
	var out []Candidate
	for _, h := range hits {
		d, ok := slots[h.DriverId]
		if !ok || !d.Available || d.ActiveOrders >= d.Capacity || slices.Contains(r.Cooled, h.DriverId) {
			continue
		}
		out = append(out, Candidate{DriverID: h.DriverId, DistanceM: h.DistanceM,
			FixAge: now.Sub(time.UnixMilli(h.FixTsMs)), Active: d.ActiveOrders, Capacity: d.Capacity})
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(e.cfg.Score(a), e.cfg.Score(b)), cmp.Compare(a.DriverID, b.DriverID))
	})
	return out, len(hits), nil
}

package bus

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outrider/outrider/persistence"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// LocationsConfig configures the location fan-out and recorder.
type LocationsConfig struct {
	// FlushInterval is the longest a fix waits before it is written to the
	// history. Default 1 s: the trail is for after-the-fact views, so a
	// second of delay costs nothing and batches thousands of fixes.
	FlushInterval time.Duration
	// BatchSize flushes early once this many fixes wait. Default 2,000.
	BatchSize int
	// MaxBuffered bounds the fixes held while the store is slow or down;
	// beyond it the oldest are dropped (and counted). Default 200,000
	// (about 30 MB).
	MaxBuffered int
	// LastEvery is how often at most a driver's last known position (his
	// row of the drivers read model: GET /v1/drivers/{id}, the fleet
	// snapshot) moves; every fix still goes to the history. A driver
	// sending a fix a second would otherwise rewrite his row every second,
	// and each rewrite locks the row an offer to him must lock too.
	// Default 5 s; the newest fix not yet written waits at most that long
	// (or for the next flush after it).
	LastEvery time.Duration
}

// Locations takes the fixes driver actors accept: it publishes each on
// core NATS at once (viewers see it live) and writes them to the location
// history in batches, never one INSERT per fix. It implements
// host.LocationSink.
type Locations struct {
	cfg       LocationsConfig
	nc        *nats.Conn
	namespace string
	store     persistence.Locations
	log       *slog.Logger

	mu  sync.Mutex
	buf []persistence.LocationFix
	// last: for each driver, when his last position last moved and the
	// newest fix not yet moved there (flush only).
	last    map[string]*lastPosition
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	dropped prometheus.Counter
	written prometheus.Counter
	errors  prometheus.Counter
}

// NewLocations builds the component; reg may be nil.
func NewLocations(cfg LocationsConfig, nc *nats.Conn, namespace string, store persistence.Locations, log *slog.Logger, reg prometheus.Registerer) *Locations {
	cfg.defaults()
	l := &Locations{cfg: cfg, nc: nc, namespace: namespace, store: store, log: log, last: map[string]*lastPosition{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "outrider_location_fixes_dropped_total",
			Help: "Fixes dropped from the history buffer because the store fell behind."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "outrider_location_fixes_recorded_total",
			Help: "Fixes written to the location history."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "outrider_location_flush_errors_total",
			Help: "Failed location history flushes (retried)."}),
	}
	if reg != nil {
		reg.MustRegister(l.dropped, l.written, l.errors)
	}
	return l
}

// Fix publishes an accepted fix and queues it for the history.
func (l *Locations) Fix(driverID string, f *pb.Fix) {
	if body, err := json.Marshal(wire.Fix{DriverID: driverID, Position: wire.Position{Lat: f.Lat, Lng: f.Lng,
		Heading: f.Heading, Speed: f.Speed, Accuracy: f.Accuracy}, TsMs: f.TsMs}); err == nil {
		_ = l.nc.Publish(wire.Namespaced(l.namespace, wire.LocationSubject(driverID)), body)
	}
	l.mu.Lock()
	if len(l.buf) >= l.cfg.MaxBuffered {
		l.buf = l.buf[1:]
		l.dropped.Inc()
	}
	l.buf = append(l.buf, persistence.LocationFix{DriverID: driverID, Lat: f.Lat, Lng: f.Lng,
		Heading: f.Heading, Speed: f.Speed, Accuracy: f.Accuracy, At: time.UnixMilli(f.TsMs).UTC()})
	full := len(l.buf) >= l.cfg.BatchSize
	l.mu.Unlock()
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// Start runs the flush loop.
func (l *Locations) Start(context.Context) error {
	go l.loop()
	return nil
}

// Stop flushes what is buffered (within ctx) and stops.
func (l *Locations) Stop(ctx context.Context) error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return l.flush(ctx, true)
}

func (l *Locations) loop() {
	defer close(l.done)
	t := time.NewTicker(l.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		case <-l.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := l.flush(ctx, false); err != nil {
			l.log.Warn("location history flush failed; will retry", "err", err)
		}
		cancel()
	}
}

// lastPosition is one driver's last known position as flush tracks it.
type lastPosition struct {
	moved   time.Time                // when it last moved (the node's clock)
	pending *persistence.LocationFix // the newest fix not yet moved there
}

// flush writes the buffered fixes to the history, and moves the last
// positions that are due (LastEvery); on failure the fixes go back to
// the front of the buffer for the next attempt, and the positions stay
// pending. all moves every pending position, due or not (Stop). Only the
// flush loop (and Stop, after it) calls it.
func (l *Locations) flush(ctx context.Context, all bool) error {
	l.mu.Lock()
	batch := l.buf
	l.buf = nil
	l.mu.Unlock()
	now := time.Now()
	for _, f := range batch {
		p := l.last[f.DriverID]
		if p == nil {
			p = &lastPosition{}
			l.last[f.DriverID] = p
		}
		if p.pending == nil || f.At.After(p.pending.At) {
			p.pending = &f
		}
	}
	// Due: pending, and not moved within LastEvery; all when all.
	var due []persistence.LocationFix
	for id, p := range l.last {
		switch {
		case p.pending != nil && (all || now.Sub(p.moved) >= l.cfg.LastEvery):
			due = append(due, *p.pending)
		case p.pending == nil && now.Sub(p.moved) > 10*l.cfg.LastEvery:
			delete(l.last, id) // quiet for long: forget him
		}
	}
	for len(batch) > 0 || len(due) > 0 {
		n := min(len(batch), l.cfg.BatchSize)
		m := min(len(due), l.cfg.BatchSize)
		if err := l.store.RecordLocations(ctx, batch[:n], due[:m]); err != nil {
			l.errors.Inc()
			l.mu.Lock()
			l.buf = append(batch, l.buf...)
			if over := len(l.buf) - l.cfg.MaxBuffered; over > 0 {
				l.buf = l.buf[over:]
				l.dropped.Add(float64(over))
			}
			l.mu.Unlock()
			return err
		}
		for _, f := range due[:m] {
			if p := l.last[f.DriverID]; p != nil && p.pending != nil && !p.pending.At.After(f.At) {
				p.moved, p.pending = now, nil
			}
		}
		l.written.Add(float64(n))
		batch, due = batch[n:], due[m:]
	}
	return nil
}

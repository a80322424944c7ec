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

	mu      sync.Mutex
	buf     []persistence.LocationFix
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
	l := &Locations{cfg: cfg, nc: nc, namespace: namespace, store: store, log: log,
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
	return l.flush(ctx)
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
		if err := l.flush(ctx); err != nil {
			l.log.Warn("location history flush failed; will retry", "err", err)
		}
		cancel()
	}
}

// flush writes the buffered fixes; on failure they go back to the front
// of the buffer for the next attempt.
func (l *Locations) flush(ctx context.Context) error {
	l.mu.Lock()
	batch := l.buf
	l.buf = nil
	l.mu.Unlock()
	for len(batch) > 0 {
		n := min(len(batch), l.cfg.BatchSize)
		if err := l.store.RecordLocations(ctx, batch[:n]); err != nil {
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
		l.written.Add(float64(n))
		batch = batch[n:]
	}
	return nil
}

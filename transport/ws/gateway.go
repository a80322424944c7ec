package ws

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outrider/outrider/actors"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Bus delivers published events to this node. Subscribe calls fn for
// every message on subject until the returned stop function is called;
// fn is called from one goroutine per subscription, in publish order.
type Bus interface {
	Subscribe(subject string, fn func(data []byte)) (stop func(), err error)
}

// Orders is what the gateway reads: the order read model (to authorise a
// channel) and the journal (to replay missed events).
type Orders interface {
	GetOrder(ctx context.Context, id string) (actors.OrderRow, error)
	JournalEvents(ctx context.Context, kind, id string, after int64) ([]actors.Event, error)
}

// Drivers takes location fixes to driver actors (fire and forget).
type Drivers interface {
	TellDriver(id string, cmd *pb.DriverCommand) error
}

// Gateway accepts WebSocket sessions and fans events out to them.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	orders   Orders
	drivers  Drivers
	hub      *hub
	upgrader websocket.Upgrader
	metrics  *metrics

	mu       sync.Mutex
	sessions map[*session]struct{}
	closing  bool
	wg       sync.WaitGroup
}

// New builds a gateway; reg may be nil.
func New(cfg Config, bus Bus, orders Orders, drivers Drivers, log *slog.Logger, reg prometheus.Registerer) *Gateway {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	g := &Gateway{
		cfg: cfg, log: log, now: time.Now, orders: orders, drivers: drivers,
		metrics:  newMetrics(reg),
		sessions: map[*session]struct{}{},
	}
	g.hub = newHub(bus, log, g.metrics)
	g.upgrader = websocket.Upgrader{
		ReadBufferSize:  cfg.ReadBufferSize,
		WriteBufferSize: cfg.WriteBufferSize,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     g.checkOrigin,
	}
	return g
}

// checkOrigin allows requests without Origin (native clients) and origins
// on the allow-list; never every origin by default.
func (g *Gateway) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	return slices.Contains(g.cfg.AllowedOrigins, "*") || slices.Contains(g.cfg.AllowedOrigins, origin)
}

// Start is a no-op kept for the component lifecycle; sessions start as
// they connect.
func (g *Gateway) Start(context.Context) error { return nil }

// Stop closes every session with CloseGoingAway (clients reconnect to
// another node and resume) and waits for them until ctx ends.
func (g *Gateway) Stop(ctx context.Context) error {
	g.mu.Lock()
	g.closing = true
	for s := range g.sessions {
		s.close(CloseGoingAway, "node shutting down; reconnect and resume")
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Serve upgrades an authenticated request to a session of user userID in
// role, and returns when the session ends. The caller has already
// authenticated the request (and answered 401 otherwise).
func (g *Gateway) Serve(w http.ResponseWriter, r *http.Request, userID, role string) {
	conn, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	s := newSession(g, conn, userID, role)
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		s.close(CloseGoingAway, "node shutting down; reconnect and resume")
		s.writeLoop()
		return
	}
	g.sessions[s] = struct{}{}
	g.wg.Add(1)
	g.mu.Unlock()
	g.metrics.sessions.Inc()
	defer func() {
		g.mu.Lock()
		delete(g.sessions, s)
		g.mu.Unlock()
		g.metrics.sessions.Dec()
		g.wg.Done()
	}()
	s.run()
}

type metrics struct {
	sessions prometheus.Gauge
	frames   *prometheus.CounterVec
	slow     prometheus.Counter
	channels prometheus.Gauge
	replayed prometheus.Counter
	fixes    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "outrider_ws_sessions", Help: "Open WebSocket sessions on this node."}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outrider_ws_frames_total",
			Help: "WebSocket frames by direction (in, out)."}, []string{"direction"}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{Name: "outrider_ws_slow_consumers_total",
			Help: "Sessions closed because their send queue filled."}),
		channels: prometheus.NewGauge(prometheus.GaugeOpts{Name: "outrider_ws_bus_subscriptions",
			Help: "Channels this node subscribes to on the bus."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "outrider_ws_replayed_events_total",
			Help: "Events replayed from the journal to resuming or gapped subscriptions."}),
		fixes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outrider_ws_location_frames_total",
			Help: "Driver location frames by outcome (passed, throttled, refused)."}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.frames, m.slow, m.channels, m.replayed, m.fixes)
	}
	return m
}

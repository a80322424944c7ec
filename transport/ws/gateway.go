package ws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/internal/gopool"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/transport/ws/internal/wsconn"
	"github.com/outrider/outrider/wire"
)

// Bus delivers published events to this node. Subscribe calls fn for
// every message on subject until the returned stop function is called;
// fn is called from one goroutine per subscription, in publish order.
type Bus interface {
	Subscribe(subject string, fn func(data []byte)) (stop func(), err error)
}

// Orders is what the gateway reads: the order read model (to authorise a
// channel), the journal (to replay missed events) and the driver read
// model (the `fleet` channel's snapshot, paged as persistence.Queries
// pages it).
type Orders interface {
	GetOrder(ctx context.Context, id string) (actors.OrderRow, error)
	JournalEvents(ctx context.Context, kind, id string, after int64) ([]actors.Event, error)
	ListDrivers(ctx context.Context, f persistence.DriverFilter) ([]persistence.Driver, bool, error)
	GetDriver(ctx context.Context, id string) (persistence.Driver, error)
}

// Drivers is what drivers' sessions send to the actors: location fixes
// to driver actors (fire and forget), answers to offers to order actors.
type Drivers interface {
	TellDriver(id string, cmd *pb.DriverCommand) error
	Order(ctx context.Context, id string, cmd *pb.OrderCommand) (*pb.OrderReply, error)
}

// Users is the user actors as the gateway needs them: sessions register
// with their user's actor, which knows all of that user's sessions on every
// node (pushes and logout reach them through it).
type Users interface {
	User(ctx context.Context, id string, cmd *pb.UserCommand) (*pb.UserReply, error)
	TellUser(id string, cmd *pb.UserCommand) error
}

// Gateway accepts WebSocket sessions and fans events out to them.
type Gateway struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	orders    Orders
	drivers   Drivers
	users     Users
	bus       Bus
	nodeID    string // names this gateway's inbox
	inbox     string // the inbox's subject, shared by every session's registration
	stopInbox func()
	hub       *hub
	upgrader  websocket.Upgrader
	// poller watches idle sessions' sockets (nil: each session reads on a
	// goroutine of its own); readers pools their read buffers.
	poller  *wsconn.Poller
	readers *wsconn.Buffers
	// writers runs the sessions' writers (session.flush) on kept
	// goroutines: under fan-out every frame starts one, and a fresh
	// goroutine grows its stack on each write (13 % of a node's CPU at
	// 1,000 frames/s to 1,000 watchers).
	writers  *gopool.Pool
	pollWarn sync.Once // a socket the poller cannot watch is logged once
	// the ping ticker (Start, Stop)
	stopPing, pingDone chan struct{}
	metrics            *metrics

	mu       sync.Mutex
	sessions map[*session]struct{}
	byID     map[string]*session
	nextSlot int // the ping slot of the next session
	closing  bool
	wg       sync.WaitGroup
	// admitted counts sessions from upgrade to end (admit, release): in
	// all and by client address, for the caps of Config.MaxSessionsNode
	// and MaxSessionsPerAddress.
	admitted int
	byAddr   map[string]int
}

// New builds a gateway; reg may be nil.
func New(cfg Config, bus Bus, orders Orders, drivers Drivers, users Users, log *slog.Logger, reg prometheus.Registerer) *Gateway {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	g := &Gateway{
		cfg: cfg, log: log, now: time.Now, orders: orders, drivers: drivers, users: users, bus: bus,
		nodeID:   randomID(),
		byID:     map[string]*session{},
		byAddr:   map[string]int{},
		metrics:  newMetrics(reg),
		sessions: map[*session]struct{}{},
	}
	g.inbox = wire.InboxSubject(g.nodeID)
	g.hub = newHub(bus, orders, log, g.metrics)
	g.readers = wsconn.NewBuffers(cfg.ReadBufferSize)
	g.writers = gopool.New(cfg.ReaderKeep)
	g.upgrader = websocket.Upgrader{
		// The gateway reads frames itself (wsconn.Reader); gorilla's own
		// read buffer, which it allocates anyway, is kept at its minimum.
		ReadBufferSize:  1,
		WriteBufferSize: cfg.WriteBufferSize,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     g.checkOrigin,
	}
	return g
}

// checkOrigin allows requests without Origin (native clients), pages of
// the node's own origin (the Origin's host is the request's Host, as
// gorilla's default check has it) and origins on the allow-list; never
// every origin by default.
func (g *Gateway) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true // a page the node served itself (the console at /console)
	}
	return slices.Contains(g.cfg.AllowedOrigins, "*") || slices.Contains(g.cfg.AllowedOrigins, origin)
}

// Start subscribes the gateway's inbox, through which user actors reach
// this node's sessions.
func (g *Gateway) Start(context.Context) error {
	stop, err := g.bus.Subscribe(g.inbox, g.onInbox)
	if err != nil {
		return fmt.Errorf("gateway inbox: %w", err)
	}
	g.stopInbox = stop
	if !g.cfg.BlockingReads {
		p, err := wsconn.NewPoller(g.cfg.ReaderKeep)
		if err != nil {
			g.log.Warn("no socket poller: every WebSocket session reads on a goroutine of its own", "err", err)
		}
		g.poller = p
	}
	g.stopPing = make(chan struct{})
	g.pingDone = make(chan struct{})
	go g.pingLoop()
	return nil
}

// pingSlots is how many rounds the ticker spreads a PingInterval's pings
// over: each session is pinged (and its lease renewed) once per interval,
// in its own slot, so the pongs and renewals of thousands of sessions do
// not all arrive at once.
const pingSlots = 10

// pingLoop pings every session and renews its lease each PingInterval:
// one timer for the node instead of one goroutine and timer per session.
func (g *Gateway) pingLoop() {
	defer close(g.pingDone)
	t := time.NewTicker(g.cfg.PingInterval / pingSlots)
	defer t.Stop()
	for round := 0; ; round = (round + 1) % pingSlots {
		select {
		case <-g.stopPing:
			return
		case <-t.C:
		}
		g.mu.Lock()
		sessions := make([]*session, 0, len(g.sessions)/pingSlots+1)
		for s := range g.sessions {
			if s.pingSlot == round {
				sessions = append(sessions, s)
			}
		}
		g.mu.Unlock()
		now := time.Now()
		for _, s := range sessions {
			s.ping(now)
		}
	}
}

// onInbox takes a user actor's push or close for sessions on this node.
func (g *Gateway) onInbox(data []byte) {
	var m wire.InboxMessage
	if err := json.Unmarshal(data, &m); err != nil {
		g.log.Warn("undecodable inbox message", "err", err)
		return
	}
	g.mu.Lock()
	targets := make([]*session, 0, len(m.SessionIDs))
	for _, id := range m.SessionIDs {
		if s, ok := g.byID[id]; ok && s.userID == m.UserID {
			targets = append(targets, s)
		}
	}
	g.mu.Unlock()
	for _, s := range targets {
		switch m.Op {
		case wire.OpPush:
			s.send(m.Frame)
		case wire.OpRevoke:
			s.close(CloseUnauthorized, m.Reason)
		case wire.OpEvict:
			s.close(CloseSessionLimit, m.Reason)
		}
	}
}

// Stop closes every session with CloseGoingAway (clients reconnect to
// another node and resume) and waits for them until ctx ends.
func (g *Gateway) Stop(ctx context.Context) error {
	if g.stopInbox != nil {
		g.stopInbox()
	}
	if g.stopPing != nil {
		close(g.stopPing)
		<-g.pingDone
		g.stopPing = nil
	}
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
		if g.poller != nil {
			g.poller.Close()
			g.poller = nil
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Serve upgrades an authenticated request to a session of user userID in
// role, and returns once the session runs (Stop waits for it to end). The caller has already
// authenticated the request (and answered 401 otherwise).
func (g *Gateway) Serve(w http.ResponseWriter, r *http.Request, userID, role, addr string, tokenIssuedAt time.Time) {
	batch, err := batchRequested(r)
	if err != nil {
		writeProblem(w, err)
		return
	}
	release, err := g.admit(addr)
	if err != nil {
		writeProblem(w, err)
		return
	}
	sessionID := randomID()
	if err := g.register(r.Context(), userID, role, sessionID, tokenIssuedAt); err != nil {
		release()
		writeProblem(w, err)
		return
	}
	cw := &wsconn.CorkingWriter{ResponseWriter: w}
	conn, err := g.upgrader.Upgrade(cw, r, nil)
	if err != nil {
		release()
		g.unregister(userID, sessionID)
		return // the upgrader has answered the client
	}
	raw := conn.NetConn()
	if cc := cw.Conn(); cc != nil {
		raw = cc.Conn
	}
	s := newSession(g, conn, raw, userID, role)
	s.cork = cw.Conn()
	s.batch = batch
	s.id, s.tokenIssuedAt, s.release = sessionID, tokenIssuedAt, release
	g.mu.Lock()
	if g.closing {
		// Stop is waiting on g.wg: this session must not join it. It is
		// turned away on the spot.
		g.mu.Unlock()
		release()
		g.unregister(userID, sessionID)
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseGoingAway,
			"node shutting down; reconnect and resume"), time.Now().Add(g.cfg.WriteTimeout))
		_ = conn.Close()
		return
	}
	s.pingSlot = g.nextSlot
	g.nextSlot = (g.nextSlot + 1) % pingSlots
	g.sessions[s] = struct{}{}
	g.byID[sessionID] = s
	g.wg.Add(1)
	g.mu.Unlock()
	g.metrics.sessions.Inc()
	if role == actors.RoleDriver {
		g.hub.watchJobs(s)
	}
	if h := testHooks.Load(); h != nil && h.started != nil {
		h.started()
	}
	// The handler returns: net/http then drops its per-connection state
	// (its grown goroutine stack, request, buffers), which an idle socket
	// would otherwise keep for hours. The session lives on in the poller
	// (or its reader goroutine) and, while it has frames to send, in its
	// writer.
	s.startReading()
}

// ended forgets a finished session: its subscriptions, its place in the
// gateway and its registration with its user's actor.
func (g *Gateway) ended(s *session) {
	for _, sub := range s.endReading() {
		g.hub.unwatch(sub)
	}
	if s.role == actors.RoleDriver {
		g.hub.unwatchJobs(s)
	}
	g.mu.Lock()
	delete(g.sessions, s)
	delete(g.byID, s.id)
	g.mu.Unlock()
	s.release()
	g.unregister(s.userID, s.id)
	g.metrics.sessions.Dec()
	g.wg.Done()
}

// sessionTTL is how long a user actor keeps a session this node has not
// renewed; renewals ride on the ping ticker (Config.PingInterval), so a
// crashed node's sessions vanish within a TTL.
func (g *Gateway) sessionTTL() time.Duration { return 3 * g.cfg.PingInterval }

func (g *Gateway) openSession(userID, role, sessionID string, iat time.Time) *pb.UserCommand {
	return &pb.UserCommand{By: &pb.Principal{UserId: userID, Role: "system"}, AtMs: g.now().UnixMilli(),
		Body: &pb.UserCommand_OpenSession{OpenSession: &pb.OpenSession{
			Session:         &pb.Session{Id: sessionID, Inbox: g.inbox, ExpiresAtMs: g.now().Add(g.sessionTTL()).UnixMilli()},
			TokenIssuedAtMs: iat.UnixMilli(),
			MaxSessions:     int32(g.cfg.maxSessions(role)),
		}}}
}

// register tells the user's actor about a new session before the upgrade,
// so a revoked token is refused with 401 rather than a dropped socket.
func (g *Gateway) register(ctx context.Context, userID, role, sessionID string, iat time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply, err := g.users.User(ctx, userID, g.openSession(userID, role, sessionID, iat))
	if err != nil {
		return &refusal{code: problem.Unavailable, detail: "could not register the session; retry"}
	}
	if rej := reply.GetRejection(); rej != nil {
		return &refusal{code: problem.Unauthorized, detail: rej.Message}
	}
	return nil
}

func (g *Gateway) renew(s *session) {
	_ = g.users.TellUser(s.userID, g.openSession(s.userID, s.role, s.id, s.tokenIssuedAt))
}

func (g *Gateway) unregister(userID, sessionID string) {
	_ = g.users.TellUser(userID, &pb.UserCommand{By: &pb.Principal{UserId: userID, Role: "system"},
		AtMs: g.now().UnixMilli(), Body: &pb.UserCommand_CloseSession{CloseSession: &pb.CloseSession{SessionId: sessionID}}})
}

// admit counts a new session from client address addr against the caps,
// or refuses it: 429 rate_limited beyond MaxSessionsPerAddress (the
// address's own sockets must close first), 503 unavailable beyond
// MaxSessionsNode (another node may take it). release, called once the
// session ends or fails to start, gives the places back; it is
// idempotent.
func (g *Gateway) admit(addr string) (release func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.byAddr[addr] >= g.cfg.MaxSessionsPerAddress:
		g.metrics.refused.WithLabelValues("address").Inc()
		return nil, &refusal{code: problem.RateLimited, retryAfter: 10,
			detail: fmt.Sprintf("too many WebSocket sessions from this address (at most %d on a node)", g.cfg.MaxSessionsPerAddress)}
	case g.admitted >= g.cfg.MaxSessionsNode:
		g.metrics.refused.WithLabelValues("node").Inc()
		return nil, &refusal{code: problem.Unavailable, retryAfter: 5,
			detail: "this node holds as many WebSocket sessions as it may; retry, another node may take you"}
	}
	g.admitted++
	g.byAddr[addr]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.admitted--
			if g.byAddr[addr]--; g.byAddr[addr] <= 0 {
				delete(g.byAddr, addr)
			}
		})
	}, nil
}

// refusal is an answer to the upgrade request, before it is upgraded:
// the code's status, and problem.WriteUpgradeRefusal's body; retryAfter,
// in seconds, if not 0.
type refusal struct {
	code       problem.Code
	detail     string
	retryAfter int
}

func (r *refusal) Error() string { return r.code.String() + ": " + r.detail }

// batchRequested reads the upgrade's `batch` query parameter: "1" asks
// for batches (session.write), "0" or none for one frame per message.
func batchRequested(r *http.Request) (bool, error) {
	switch r.URL.Query().Get("batch") {
	case "", "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, &refusal{code: problem.ValidationFailed, detail: "batch must be 0 or 1"}
}

func writeProblem(w http.ResponseWriter, err error) {
	var rf *refusal
	if !errors.As(err, &rf) {
		rf = &refusal{code: problem.Internal, detail: "internal error"}
	}
	if rf.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(rf.retryAfter))
	}
	problem.WriteUpgradeRefusal(w, rf.code, rf.detail)
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type metrics struct {
	sessions prometheus.Gauge
	frames   *prometheus.CounterVec
	// framesOut is frames' "out" series, looked up once: every write of
	// every session adds to it.
	framesOut prometheus.Counter
	slow      prometheus.Counter
	channels  prometheus.Gauge
	replayed  prometheus.Counter
	fixes     *prometheus.CounterVec
	jobs      *prometheus.CounterVec
	// jobCopies: second copies of jobs (the relay's after the live one,
	// or the other way round) and offers already withdrawn, dropped.
	jobCopies prometheus.Counter
	// refused: upgrades refused by a session cap ("address", "node").
	refused *prometheus.CounterVec
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
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outrider_ws_job_frames_total",
			Help: "Job frames (job.offered, job.withdrawn) sent to drivers' sessions on this node."}, []string{"event"}),
		jobCopies: prometheus.NewCounter(prometheus.CounterOpts{Name: "outrider_ws_job_copies_dropped_total",
			Help: "Jobs the gateway heard a second time (live and relayed copies) or after their withdrawal, and dropped."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outrider_ws_upgrades_refused_total",
			Help: "WebSocket upgrades refused by a session cap: per client address (429) or per node (503)."}, []string{"cap"}),
	}
	m.framesOut = m.frames.WithLabelValues("out")
	if reg != nil {
		reg.MustRegister(m.sessions, m.frames, m.slow, m.channels, m.replayed, m.fixes, m.jobs, m.jobCopies, m.refused)
	}
	// Every label value's series from the start, at 0: Prometheus's
	// increase() and rate() cannot see a counter's first step from absent
	// to 1, and dashboards (deploy/grafana) would show no series at all.
	for _, pre := range []struct {
		vec    *prometheus.CounterVec
		values []string
	}{
		{m.frames, []string{"in", "out"}},
		{m.fixes, []string{"passed", "throttled", "refused"}},
		{m.jobs, []string{wire.JobOffered, wire.JobWithdrawn}},
		{m.refused, []string{"address", "node"}},
	} {
		for _, v := range pre.values {
			pre.vec.WithLabelValues(v)
		}
	}
	return m
}

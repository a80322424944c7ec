// Package app wires one Outrider node together, top to bottom: storage,
// actors, cluster, HTTP API. cmd/outrider parses configuration and calls
// Run; tests call Start to get a node in-process.
package app

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/host"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/actors/user"
	"github.com/outrider/outrider/cluster"
	"github.com/outrider/outrider/dispatch/deadlines"
	"github.com/outrider/outrider/dispatch/engine"
	"github.com/outrider/outrider/internal/password"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/persistence/blob/local"
	"github.com/outrider/outrider/persistence/blob/s3"
	"github.com/outrider/outrider/persistence/postgres"
	"github.com/outrider/outrider/persistence/sqlite"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/transport/bus"
	"github.com/outrider/outrider/transport/httpapi"
	"github.com/outrider/outrider/transport/ws"
	"github.com/outrider/outrider/worker"
	"github.com/outrider/outrider/worker/email"
)

// Config is a node's whole configuration; cmd/outrider fills it from
// flags and OUTRIDER_* variables.
type Config struct {
	// SQLitePath, when set, stores everything in this SQLite file instead
	// of Postgres (outrider dev: one node only).
	SQLitePath string
	// PGURL is the Postgres connection URL (unless SQLitePath is set).
	PGURL string
	// PGSchema isolates the node's tables in a schema (tests). Optional.
	PGSchema string
	// PGMaxConns caps the pool. 0: the backend's default.
	PGMaxConns int
	// NATSURL is the NATS server (JetStream enabled) events travel on,
	// unless EmbeddedNATSDir is set.
	NATSURL string
	// EmbeddedNATSDir, when set, runs NATS inside the process with its
	// JetStream data in this directory (outrider dev).
	EmbeddedNATSDir string
	HTTP            httpapi.Config
	// Dispatch tunes the automatic dispatch engine (its offers last
	// HTTP.OfferTTL).
	Dispatch engine.Config
	Cluster  cluster.Config
	Relay    bus.RelayConfig
	WS       ws.Config
	// Locations configures the live-position fan-out and history batches.
	Locations bus.LocationsConfig
	// BlobDir, when set, keeps proof photos on local disk under it and
	// the node serves their signed URLs itself (outrider dev).
	BlobDir string
	// S3, when its Endpoint is set (and BlobDir is not), keeps proof
	// photos in an S3 bucket. With neither, the upload routes answer 503.
	S3 s3.Config
	// PublicURL is the base URL clients reach this node at, for the
	// signed URLs of the local blob store. Default http://localhost:<port>.
	PublicURL string
	// Roles this node plays: "api" (HTTP API and WebSockets) and
	// "worker" (notifications, thumbnails, webhooks, e-mail). Every node
	// joins the cluster and relays the outbox. Default both. A node
	// without "api" serves only /healthz, /readyz and /metrics.
	Roles []string
	// Worker tunes the worker role (its stream and namespace follow Relay).
	Worker worker.Config
	// SMTP sends the worker's e-mails when its Addr is set; MailLog logs
	// them instead (dev); with neither, no e-mail is sent.
	SMTP    email.Config
	MailLog bool
	// AdminEmail and AdminPassword create the first admin at start-up if
	// no user has that e-mail yet (idempotent; an existing user is left
	// alone).
	AdminEmail, AdminPassword string
	// DebugAddr, when set, serves Go's pprof profiles (/debug/pprof/) on
	// a listener of its own, apart from the API. Keep it private.
	DebugAddr string
	// Build names the running build on /metrics (outrider_build_info).
	// Zero: ReadBuild("", "", "").
	Build Build
	// ShutdownTimeout bounds the graceful drain on SIGTERM. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// OTLPEndpoint, when set, exports traces over OTLP/HTTP to this
	// collector base URL (http://collector:4318), new traces sampled at
	// OTLPSampleRatio (callers' decisions followed). Needs a binary built
	// with -tags otlp (OTLPBuilt); Start fails otherwise.
	OTLPEndpoint    string
	OTLPSampleRatio float64
	// BeforeServe, if set, runs after the node has joined the cluster and
	// before HTTP is served, so /readyz answers 200 only after it (dev
	// mode seeds its demo accounts here).
	BeforeServe func(ctx context.Context, n *Node) error
}

// DefaultShutdownTimeout is Config.ShutdownTimeout's default.
const DefaultShutdownTimeout = 20 * time.Second

// Node is a running Outrider node.
type Node struct {
	cfg    Config
	log    *slog.Logger
	store  persistence.Backend
	leader bus.Leader
	pgPool prometheus.Collector // the Postgres pool's statistics; nil on SQLite
	// stopTracing flushes and stops the trace export; nil when off.
	stopTracing func(context.Context) error
	natsd       *bus.Embedded
	nc          *nats.Conn
	relay       *bus.Relay
	fixes       *bus.Locations
	cluster     *cluster.Node
	gateway     *ws.Gateway
	blobs       blob.Store
	blobOrigin  string       // where clients download blobs from (the console may show them)
	mail        email.Sender // shared by the worker and the API (mailSender)
	api         *httpapi.Server
	debug       *http.Server
	mu          sync.Mutex // guards worker, api and gateway, which the cluster's heartbeat reads
	worker      *worker.Worker
	// deadlines fires the deadline rows (offer expiries) on every node.
	deadlines *deadlines.Scheduler
	engine    *engine.Engine
	kicks     *kicker // guarded by mu: commits read it from actors
}

// HasRole reports whether the node plays role ("api", "worker").
func (c Config) HasRole(role string) bool {
	return len(c.Roles) == 0 || slices.Contains(c.Roles, role)
}

// Start connects to Postgres, migrates, joins the cluster and serves HTTP.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Node, error) {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	n := &Node{cfg: cfg, log: log}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Build == (Build{}) {
		cfg.Build = ReadBuild("", "", "")
	}
	reg.MustRegister(buildInfoGauge(cfg.Build))
	if cfg.OTLPEndpoint != "" {
		host, _ := os.Hostname()
		stop, err := startTracing(cfg.OTLPEndpoint, host, cfg.OTLPSampleRatio, log)
		if err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
		n.stopTracing = stop
	}

	if err := n.openStore(ctx); err != nil {
		return nil, err
	}
	if n.pgPool != nil {
		reg.MustRegister(n.pgPool)
	}
	store := n.store
	if err := store.Migrate(ctx); err != nil {
		n.abort()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if err := n.connectNATS(); err != nil {
		n.abort()
		return nil, err
	}
	nc := n.nc
	js, err := jetstream.New(nc)
	if err != nil {
		n.abort()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	n.relay = bus.NewRelay(cfg.Relay, store, js, n.leader, log, reg)
	if err := n.relay.Start(ctx); err != nil {
		n.abort()
		return nil, fmt.Errorf("start outbox relay: %w", err)
	}

	n.fixes = bus.NewLocations(cfg.Locations, nc, cfg.Relay.Namespace, store, log, reg)
	if err := n.fixes.Start(ctx); err != nil {
		n.abort()
		return nil, err
	}
	publisher := bus.NewPublisher(nc, cfg.Relay.Namespace)
	liveJobErrors := prometheus.NewCounter(prometheus.CounterOpts{Name: "outrider_jobs_live_publish_errors_total",
		Help: "Drivers' jobs the committing node could not publish at once; the outbox relay's copy still delivers them."})
	reg.MustRegister(liveJobErrors)
	h := host.New(host.Config{Store: store, Logger: log, IdleTimeout: cfg.Cluster.IdleTimeout, Registerer: reg,
		Locations: n.fixes, Inbox: publisher, Zones: zoneTeller{n},
		AfterCommit: func(c actors.Commit) {
			if len(c.Outbox) > 0 {
				// Jobs first, on core NATS: the driver hears his offer
				// now; the relay's durable copy follows.
				liveJobErrors.Add(float64(publisher.PublishJobsLive(c.Outbox)))
				n.relay.Notify()
			}
			if len(c.Deadlines) > 0 {
				n.armed(c.Deadlines)
			}
		}})
	cfg.Cluster.Registerer = reg
	cfg.Cluster.JetStream, cfg.Cluster.Namespace = js, cfg.Relay.Namespace
	cfg.Cluster.Status = n.memberStatus
	n.cluster = cluster.New(cfg.Cluster, log,
		cluster.Kind{Name: actors.KindOrder, Props: h.OrderProps()},
		cluster.Kind{Name: actors.KindDriver, Props: h.DriverProps()},
		cluster.Kind{Name: actors.KindUser, Props: h.UserProps()},
		cluster.Kind{Name: actors.KindZone, Props: h.ZoneProps()},
	)
	n.cluster.OnMemberLeft(func(id, _ string) {
		// The member's requests will never complete: retries of them must
		// not wait out the claim timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		released, err := store.ReleaseIdempotencyClaims(ctx, id)
		if err != nil {
			log.Warn("release a departed member's Idempotency-Key claims", "member", id, "err", err)
		} else if released > 0 {
			log.Info("released a departed member's Idempotency-Key claims", "member", id, "claims", released)
		}
	})
	if err := n.cluster.Start(ctx); err != nil {
		n.abort()
		return nil, fmt.Errorf("join cluster: %w", err)
	}
	dcfg := cfg.Dispatch
	dcfg.OfferTTL, dcfg.Logger, dcfg.Registerer = cfg.HTTP.OfferTTL, log, reg
	n.engine, err = engine.New(n.cluster, n.cluster, store, dcfg)
	if err != nil {
		n.abort()
		return nil, err
	}
	n.mu.Lock()
	n.kicks = newKicker(n.engine)
	n.mu.Unlock()
	sched, err := deadlines.New(store, n.fireDeadline, deadlines.Config{Owner: n.cluster.ID(), Logger: log, Registerer: reg})
	if err != nil {
		n.abort()
		return nil, err
	}
	n.mu.Lock()
	n.deadlines = sched
	n.mu.Unlock()
	sched.Start()

	if err := n.bootstrapAdmin(ctx); err != nil {
		n.abort()
		return nil, err
	}
	if cfg.BeforeServe != nil {
		if err := cfg.BeforeServe(ctx, n); err != nil {
			n.abort()
			return nil, err
		}
	}

	if cfg.HasRole("api") {
		gw := ws.New(cfg.WS, bus.NewSubscriber(nc, cfg.Relay.Namespace), store, n.cluster, n.cluster, log, reg)
		n.mu.Lock()
		n.gateway = gw
		n.mu.Unlock()
		if err := gw.Start(ctx); err != nil {
			n.abort()
			return nil, err
		}
	} else {
		cfg.HTTP.OpsOnly = true
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		n.abort()
		return nil, fmt.Errorf("listen %s: %w", cfg.HTTP.Addr, err)
	}
	blobHandler, err := n.openBlobs(ctx, ln.Addr())
	if err != nil {
		_ = ln.Close()
		n.abort()
		return nil, err
	}
	if n.mail, err = mailSender(cfg, log); err != nil {
		_ = ln.Close()
		n.abort()
		return nil, err
	}
	if n.blobOrigin != "" {
		// Proof photos are downloaded from the blob store: the console may show them.
		cfg.HTTP.Console.ImageOrigins = append(cfg.HTTP.Console.ImageOrigins, n.blobOrigin)
	}
	api, err := httpapi.New(cfg.HTTP, httpapi.Deps{
		Actors: n.cluster, Store: store, Logger: log, Registry: reg, Realtime: n.gateway, Cluster: n.cluster, OrderFeed: n.gateway,
		Blobs: n.blobs, BlobHandler: blobHandler, Revocations: bus.NewSubscriber(nc, cfg.Relay.Namespace), Mail: n.mail,
		Ready: map[string]httpapi.Readiness{
			"storage": store.Ping,
			"nats": func(context.Context) error {
				if !nc.IsConnected() {
					return errors.New("not connected")
				}
				return nil
			},
			"cluster": func(context.Context) error {
				if !n.cluster.Ready() {
					return errors.New("not joined")
				}
				return nil
			},
			"worker": func(ctx context.Context) error {
				if !cfg.HasRole("worker") {
					return nil
				}
				n.mu.Lock()
				w := n.worker
				n.mu.Unlock()
				if w == nil {
					return errors.New("starting")
				}
				return w.Check(ctx)
			},
		},
	})
	if err != nil {
		_ = ln.Close()
		n.abort()
		return nil, err
	}
	if cfg.HTTP.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.HTTP.MetricsAddr)
		if err != nil {
			_ = ln.Close()
			n.abort()
			return nil, fmt.Errorf("metrics listen %s: %w", cfg.HTTP.MetricsAddr, err)
		}
		api.ServeMetrics(mln)
	}
	api.StartOn(ctx, ln)
	n.mu.Lock()
	n.api = api
	n.mu.Unlock()
	if cfg.DebugAddr != "" {
		if err := n.serveDebug(cfg.DebugAddr); err != nil {
			n.abort()
			return nil, err
		}
	}
	if cfg.HasRole("worker") {
		if err := n.startWorker(ctx, js, reg); err != nil {
			n.abort()
			return nil, err
		}
	}
	log.Info("outrider node ready", "http", api.Addr(), "tls", api.TLS(), "metrics", cmp.Or(api.MetricsAddr(), api.Addr()),
		"cluster", n.cluster.Addr(), "version", cfg.Build.Version, "revision", cfg.Build.Revision)
	return n, nil
}

// memberStatus is what the node adds to its cluster member record: where
// it serves HTTP, its roles and its open sockets.
func (n *Node) memberStatus() cluster.MemberStatus {
	st := cluster.MemberStatus{Roles: n.cfg.Roles}
	if len(st.Roles) == 0 {
		st.Roles = []string{"api", "worker"}
	}
	n.mu.Lock()
	api, gw := n.api, n.gateway
	n.mu.Unlock()
	if api != nil {
		st.HTTPAddress = api.Addr()
	}
	if gw != nil {
		st.Sockets = gw.Sessions()
	}
	return st
}

// startWorker starts the worker role on the relay's stream.
// mailSender is the node's e-mail sender, which the worker (notification
// e-mails) and the API (password reset e-mails) share: SMTP when its Addr
// is set, the log in dev mode (MailLog), none otherwise.
func mailSender(cfg Config, log *slog.Logger) (email.Sender, error) {
	switch {
	case cfg.SMTP.Addr != "":
		// An e-mail must be sent, or have failed, within the worker's
		// handler budget (90% of AckWait), so the SMTP timeout's default
		// depends on the ack wait the worker will use: the worker
		// defaults its own Config, but the sender is built first.
		ackWait := cfg.Worker.AckWait
		if ackWait <= 0 {
			ackWait = worker.DefaultAckWait
		}
		if cfg.SMTP.Timeout <= 0 {
			cfg.SMTP.Timeout = min(email.DefaultSMTPTimeout, ackWait/2)
		}
		if cfg.SMTP.Timeout >= ackWait*9/10 {
			return nil, fmt.Errorf("smtp timeout %s must be shorter than 90%% of the worker's ack wait %s", cfg.SMTP.Timeout, ackWait)
		}
		s, err := email.NewSMTPSender(cfg.SMTP)
		if err != nil {
			return nil, fmt.Errorf("smtp: %w", err)
		}
		return s, nil
	case cfg.MailLog:
		return email.NewLogSender(log, "outrider@localhost")
	}
	return nil, nil
}

func (n *Node) startWorker(ctx context.Context, js jetstream.JetStream, reg prometheus.Registerer) error {
	cfg := n.cfg
	wcfg := cfg.Worker
	wcfg.Namespace = cfg.Relay.Namespace
	if wcfg.Thumbnail.MaxBytes <= 0 {
		// Every upload the API accepts can be thumbnailed: the limit
		// follows the API's, not thumbnail.DefaultMaxBytes.
		wcfg.Thumbnail.MaxBytes = cfg.HTTP.UploadMaxBytes
	}
	// The worker reads the relay's stream, so it follows the relay's
	// setting and, unset, the relay's default; worker.Config has none.
	wcfg.EventsStream = cfg.Relay.Stream
	if wcfg.EventsStream == "" {
		wcfg.EventsStream = bus.DefaultStream
	}
	w, err := worker.New(wcfg, worker.Deps{
		JS: js, Store: n.store, Blobs: n.blobs, Mail: n.mail, Logger: n.log, Registerer: reg,
		Push: func(_ context.Context, userID string, frame []byte) error {
			return n.cluster.TellUser(userID, &pb.UserCommand{Body: &pb.UserCommand_Push{Push: &pb.Push{Frame: frame}}})
		},
	})
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	n.mu.Lock()
	n.worker = w
	n.mu.Unlock()
	return nil
}

// serveDebug serves net/http/pprof's handlers on addr.
func (n *Node) serveDebug(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("debug listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	n.debug = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = n.debug.Serve(ln) }()
	n.log.Info("pprof profiles served", "addr", ln.Addr().String())
	return nil
}

// Worker is the node's worker (nil unless it plays the worker role).
func (n *Node) Worker() *worker.Worker { return n.worker }

// openBlobs opens the blob store the configuration names, if any, and
// returns the handler of its signed URLs when the node serves them.
func (n *Node) openBlobs(ctx context.Context, addr net.Addr) (http.Handler, error) {
	cfg := n.cfg
	switch {
	case cfg.BlobDir != "":
		base := cfg.PublicURL
		if base == "" {
			_, port, err := net.SplitHostPort(addr.String())
			if err != nil {
				return nil, fmt.Errorf("blob base URL: %w", err)
			}
			scheme := "http"
			if cfg.HTTP.TLSCertFile != "" {
				scheme = "https"
			}
			base = scheme + "://localhost:" + port
		}
		st, err := local.New(cfg.BlobDir, base, blobSecret(cfg.HTTP.JWTSecret),
			local.Options{MaxObjectBytes: cfg.HTTP.UploadMaxBytes, Logger: n.log})
		if err != nil {
			return nil, err
		}
		n.blobs, n.blobOrigin = st, base
		return st.Handler(), nil
	case cfg.S3.Endpoint != "":
		if cfg.S3.MaxObjectBytes == 0 {
			cfg.S3.MaxObjectBytes = cfg.HTTP.UploadMaxBytes
		}
		st, err := s3.New(ctx, cfg.S3)
		if err != nil {
			return nil, fmt.Errorf("s3 blob store: %w", err)
		}
		n.blobs, n.blobOrigin = st, s3Origin(cfg.S3)
	}
	return nil, nil
}

// s3Origin is where clients download from the S3 server: the public
// endpoint (or the endpoint) with the scheme presigned URLs carry.
func s3Origin(c s3.Config) string {
	ep := c.PublicEndpoint
	if ep == "" {
		ep = c.Endpoint
	}
	if strings.Contains(ep, "://") {
		return ep
	}
	if c.UseSSL {
		return "https://" + ep
	}
	return "http://" + ep
}

// blobSecret derives the local blob store's URL-signing key from the
// token key, so dev mode needs one secret, yet a signed URL can never
// pass for a token (or the reverse).
func blobSecret(jwtSecret []byte) []byte {
	m := hmac.New(sha256.New, jwtSecret)
	m.Write([]byte("outrider blob url signing v1"))
	return m.Sum(nil)
}

// Blobs is the node's blob store (nil when none is configured).
func (n *Node) Blobs() blob.Store { return n.blobs }

// Addr is the HTTP address the node serves on.
func (n *Node) Addr() string { return n.api.Addr() }

// MetricsAddr is the address of the node's own /metrics listener ("" when
// /metrics is on Addr).
func (n *Node) MetricsAddr() string { return n.api.MetricsAddr() }

// Store is the node's storage backend.
func (n *Node) Store() persistence.Backend { return n.store }

// Cluster is the node's cluster member.
func (n *Node) Cluster() *cluster.Node { return n.cluster }

func (n *Node) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.Stop(ctx)
}

// Stop tells WebSocket clients to reconnect elsewhere (close 1001), drains
// HTTP (in-flight requests finish), leaves the cluster (passivating this
// node's actors), stops the relay (unpublished rows stay for the next
// leader), then closes NATS and storage. It tolerates a partial Start.
func (n *Node) Stop(ctx context.Context) error {
	var errs []error
	if n.worker != nil {
		// Half the budget at most: the API drain and leaving the cluster
		// need the rest. Unfinished jobs are redelivered anyway.
		wctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownTimeout/2)
		errs = append(errs, n.worker.Stop(wctx))
		cancel()
	}
	if n.gateway != nil {
		errs = append(errs, n.gateway.Stop(ctx))
	}
	if n.api != nil {
		errs = append(errs, n.api.Stop(ctx))
	}
	if n.debug != nil {
		_ = n.debug.Close()
	}
	if n.deadlines != nil {
		// Before the cluster: what it has claimed and not fired runs out
		// its lease and fires elsewhere.
		errs = append(errs, n.deadlines.Stop(ctx))
	}
	n.mu.Lock()
	k := n.kicks
	n.kicks = nil
	n.mu.Unlock()
	if k != nil {
		k.stop() // rounds not kicked are their rows'
	}
	if n.cluster != nil {
		errs = append(errs, n.cluster.Stop(ctx))
	}
	if n.relay != nil {
		errs = append(errs, n.relay.Stop(ctx))
	}
	if n.fixes != nil {
		errs = append(errs, n.fixes.Stop(ctx))
	}
	if n.nc != nil {
		n.nc.Close()
	}
	if n.natsd != nil {
		n.natsd.Stop()
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.stopTracing != nil { // last: flushes the spans of the drain too
		errs = append(errs, n.stopTracing(ctx))
	}
	return errors.Join(errs...)
}

// openStore opens SQLite (one node; the relay always leads) or Postgres
// (the relay leads while it holds an advisory lock).
func (n *Node) openStore(ctx context.Context) error {
	cfg := n.cfg
	if cfg.SQLitePath != "" {
		st, err := sqlite.Open(ctx, cfg.SQLitePath, sqlite.Options{Logger: n.log})
		if err != nil {
			return fmt.Errorf("open sqlite %s: %w", cfg.SQLitePath, err)
		}
		n.store, n.leader = st, bus.SoleLeader{}
		return nil
	}
	st, err := postgres.Open(ctx, cfg.PGURL, postgres.Options{Schema: cfg.PGSchema, MaxConns: int32(cfg.PGMaxConns), Logger: n.log})
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	n.store, n.leader, n.pgPool = st, st.Leader(RelayLeadership), st.Collector()
	return nil
}

// RelayLeadership names the Postgres leadership (postgres.Store.Leader)
// that the outbox relay of one schema's nodes contend for.
const RelayLeadership = "outbox-relay"

// connectNATS starts the embedded server if configured, then connects.
func (n *Node) connectNATS() error {
	opts := []nats.Option{nats.Name("outrider"), nats.MaxReconnects(-1)}
	if dir := n.cfg.EmbeddedNATSDir; dir != "" {
		srv, err := bus.StartEmbedded(dir)
		if err != nil {
			return err
		}
		n.natsd = srv
		nc, err := srv.Connect(opts...)
		if err != nil {
			return fmt.Errorf("connect embedded nats: %w", err)
		}
		n.nc = nc
		return nil
	}
	nc, err := nats.Connect(n.cfg.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("connect nats %s: %w", n.cfg.NATSURL, err)
	}
	n.nc = nc
	return nil
}

// Run starts a node and stops it gracefully when ctx is cancelled.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	n, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	var evicted error
	select {
	case <-ctx.Done():
	case <-n.cluster.Evicted():
		// The membership will not take this member back: stop, and let
		// the supervisor start a fresh node (with a new member id).
		evicted = errors.New("dropped from the cluster membership; restart the node")
	}
	log.Info("shutting down", "timeout", n.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(evicted, n.Stop(sctx))
}

// bootstrapAdmin creates the configured first admin unless that e-mail is
// already registered. Several nodes may race here: the unique e-mail
// settles it.
func (n *Node) bootstrapAdmin(ctx context.Context) error {
	if n.cfg.AdminEmail == "" {
		return nil
	}
	if len(n.cfg.AdminPassword) < 8 {
		return errors.New("OUTRIDER_ADMIN_PASSWORD must be at least 8 characters")
	}
	if why := password.Weak(n.cfg.AdminPassword, n.cfg.AdminEmail); why != "" {
		// The operator's choice, kept so that an upgrade never locks the
		// first admin out; said loudly.
		n.log.Warn("OUTRIDER_ADMIN_PASSWORD "+why, "rule", "the API refuses such a password for any new account (weak_password)")
	}
	email := user.NormalizeEmail(n.cfg.AdminEmail)
	if _, err := n.store.GetUserByEmail(ctx, email); err == nil {
		return nil
	} else if !errors.Is(err, persistence.ErrNotFound) {
		return fmt.Errorf("look up admin: %w", err)
	}
	hash, err := password.Hash(n.cfg.AdminPassword, n.cfg.HTTP.BcryptCost)
	if err != nil {
		return err
	}
	id := "usr_" + ulid.Make().String()
	reply, err := n.cluster.User(ctx, id, &pb.UserCommand{
		CommandId: "bootstrap-admin-" + email, By: &pb.Principal{UserId: actors.SystemUserID, Role: actors.RoleSystem},
		AtMs: time.Now().UnixMilli(),
		Body: &pb.UserCommand_Create{Create: &pb.CreateUser{Email: email, Name: "Administrator", Role: actors.RoleAdmin, PasswordHash: hash}},
	})
	if err != nil {
		return fmt.Errorf("create admin: %w", err)
	}
	if rej := reply.GetRejection(); rej != nil && rej.Code != actors.CodeEmailTaken {
		return fmt.Errorf("create admin: %s: %s", rej.Code, rej.Message)
	}
	n.log.Info("first admin ready", "email", email)
	return nil
}

// fireDeadline sends a due deadline's command to its entity through the
// cluster, stamped with this node's clock. The entity's answer settles it
// either way (an offer expires, or was no longer open); only an actor
// that asks for a retry, or no answer, leaves it to fire again.
func (n *Node) fireDeadline(ctx context.Context, d actors.Deadline) error {
	switch d.Kind {
	case order.DeadlineDispatch:
		return n.engine.Round(ctx, d)
	case actors.KindOrder:
		cmd := &pb.OrderCommand{}
		if err := proto.Unmarshal(d.Command, cmd); err != nil {
			n.log.Error("undecodable deadline command; dropped", "deadline", d.ID, "err", err)
			return nil
		}
		cmd.AtMs = time.Now().UnixMilli()
		reply, err := n.cluster.Order(ctx, d.EntityID, cmd)
		if err != nil {
			return err
		}
		if rej := reply.GetRejection(); rej != nil && rej.Code == actors.CodeRetry {
			return fmt.Errorf("order %s asks for a retry: %s", d.EntityID, rej.Message)
		}
		return nil
	}
	n.log.Error("deadline of an unknown kind; dropped", "deadline", d.ID, "kind", d.Kind)
	return nil
}

// armed takes the deadlines a commit armed: the rounds due at once are
// kicked here (kick.go), and the scheduler is woken when one is due
// before its next look at the store, instead of up to a second later.
func (n *Node) armed(ds []actors.Deadline) {
	n.mu.Lock()
	sched, kicks := n.deadlines, n.kicks
	n.mu.Unlock()
	if kicks != nil {
		kicks.kick(ds)
	}
	if sched == nil {
		return
	}
	soon := time.Now().Add(deadlines.DefaultIdle)
	for _, d := range ds {
		if d.DueAt.Before(soon) {
			sched.Wake()
			return
		}
	}
}

// zoneTeller feeds the zone actors through the node's cluster, which is
// built after the host: driver actors, which call it, run only once the
// cluster has started.
type zoneTeller struct{ n *Node }

func (z zoneTeller) TellZone(zone string, msg *pb.ZoneMessage) { z.n.cluster.TellZone(zone, msg) }

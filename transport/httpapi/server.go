// Package httpapi is Outrider's HTTP API v1 (DESIGN.md §3) on httprouter.
//
// Start at routes.go: every route is registered there with the roles that
// may call it, and a test fails if one has no policy. Handlers return
// errors (*Error, from the catalogue in errors.go); only writeError writes
// problem+json. Commands go to the entity actors through the Actors
// interface (the cluster's typed client); reads come from the read model
// (persistence.Queries), which the actors update in the same transaction
// as their journal, so a read after a 2xx sees the write.
package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/outrider/outrider/internal/password"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/transport/httpapi/console"
	"github.com/outrider/outrider/worker/email"
)

// Actors is the typed cluster client the API sends commands through.
type Actors interface {
	Order(ctx context.Context, id string, cmd *pb.OrderCommand) (*pb.OrderReply, error)
	Driver(ctx context.Context, id string, cmd *pb.DriverCommand) (*pb.DriverReply, error)
	User(ctx context.Context, id string, cmd *pb.UserCommand) (*pb.UserReply, error)
	// Zone asks a zone actor (identity a geo.ZoneOf key) a query.
	Zone(ctx context.Context, zone string, msg *pb.ZoneMessage) (*pb.ZoneHits, error)
}

// Realtime serves the WebSocket of an authenticated caller (transport/ws);
// addr is the client's address as the rate limits see it (TrustedProxies).
type Realtime interface {
	Serve(w http.ResponseWriter, r *http.Request, userID, role, addr string, tokenIssuedAt time.Time)
}

// Store is what the API reads and the auth tables it writes.
type Store interface {
	persistence.Queries
	persistence.Locations
	persistence.Auth
	persistence.Idempotency
	persistence.Proofs
	persistence.Notifications
	persistence.Webhooks
	persistence.Erasure
	persistence.PersonalData
	Ping(ctx context.Context) error
}

// Config of the HTTP API. Zero values take the documented defaults.
type Config struct {
	// Addr to listen on. Default ":8080".
	Addr string
	// MaxBodyBytes caps a request body; larger bodies get 413
	// body_too_large before they are read. Default 64 KiB: the largest
	// legitimate body (an order with 2,000 characters of notes) is ~5 KiB.
	MaxBodyBytes int64
	// RatePerSecond and RateBurst limit each client (user id when
	// authenticated, else remote IP) with a token bucket; over it the
	// answer is 429 rate_limited with Retry-After. Defaults 50/s, burst 100.
	RatePerSecond float64
	RateBurst     int
	// AuthRatePerSecond and AuthRateBurst limit signup, login and refresh
	// per remote IP, to slow password guessing. Defaults 2/s, burst 20.
	AuthRatePerSecond float64
	AuthRateBurst     int
	// RateLimitClients bounds how many client buckets are remembered; the
	// least recently used are dropped first. Default 100,000.
	RateLimitClients int
	// CORSOrigins is the allow-list of browser origins ("*" allows any).
	// Empty: no cross-origin access.
	CORSOrigins []string
	// JWTSecret signs access tokens (HS256). Required, ≥ 32 bytes.
	JWTSecret []byte
	// TrackingLinkTTL is how long an order's tracking link works after the
	// order ended (tracking.go). Default 24 h.
	TrackingLinkTTL time.Duration
	// TrackingSpeed is the average speed, in m/s, a tracking link's
	// estimated arrival assumes. Default 8 (29 km/h).
	TrackingSpeed float64
	// TrackingStreams caps the tracking links' event streams (GET
	// /v1/track/:token/events) open at once on this node; one more is
	// answered 503 unavailable with Retry-After. Each holds a connection,
	// a goroutine and its order's (shared) bus subscriptions. Default
	// DefaultTrackingStreams.
	TrackingStreams int
	// TrackingStreamInterval is how often at most a tracking stream sends
	// the driver's moving position (the newest wins); order events are
	// sent at once. Default 1 s.
	TrackingStreamInterval time.Duration
	// TrackingStreamMaxAge closes a tracking stream this long after it
	// opened (the browser reconnects), so that no connection is held
	// forever. Default 1 h.
	TrackingStreamMaxAge time.Duration
	// TrackingStreamKeepAlive is the silence after which a tracking
	// stream sends a comment, so that proxies keep it open. Default 15 s;
	// no setting of the binary changes it (tests shorten it).
	TrackingStreamKeepAlive time.Duration
	// Console configures the pages the node serves (the console at
	// /console, tracking pages at /track/<token>): map tiles, image origins.
	Console console.Options
	// Issuer and Audience of access tokens. Defaults "outrider" and
	// "outrider-api".
	Issuer, Audience string
	// AccessTTL (default 15 min) and RefreshTTL (default 30 days).
	AccessTTL, RefreshTTL time.Duration
	// BcryptCost for password hashes. Default 10 (~50 ms a hash here);
	// tests use 4.
	BcryptCost int
	// MaxConcurrentHashes caps password hashes in flight. Default
	// GOMAXPROCS: hashing is CPU-bound.
	MaxConcurrentHashes int
	// HashQueueWait is the longest a login, signup or password change
	// waits for a hashing slot; then it is refused 503 unavailable with
	// Retry-After, so a flood of password checks cannot queue a real
	// user's login for many seconds. Default 2 s.
	HashQueueWait time.Duration
	// RequestTimeout bounds a command's trip through the cluster. Default 10s.
	RequestTimeout time.Duration
	// UploadMaxBytes caps a proof upload. Default 10 MiB (the blob
	// store's own limit must be at least this).
	UploadMaxBytes int64
	// UploadTTL is how long a presigned upload stays valid. Default 10
	// minutes: long enough for a phone on a poor network.
	UploadTTL time.Duration
	// DownloadTTL is how long the proof URLs of GET /proofs stay valid.
	// Default 5 minutes.
	DownloadTTL time.Duration
	// OfferTTL is how long a driver has to accept an offer when the admin
	// does not say (offer_ttl_s). Default 45 s.
	OfferTTL time.Duration
	// ProofRequiredFor lists the delivery options whose orders need a
	// recorded proof before delivered (409 proof_required). Default none.
	ProofRequiredFor []string
	// LoginFreeFailuresAccountIP, LoginMaxDelayAccountIP,
	// LoginFreeFailuresAccount, LoginMaxDelayAccount and
	// LoginFailureWindow tune the failed-login throttle (throttle.go);
	// defaults DefaultLogin*.
	LoginFreeFailuresAccountIP, LoginFreeFailuresAccount int
	LoginMaxDelayAccountIP, LoginMaxDelayAccount         time.Duration
	LoginFailureWindow                                   time.Duration
	// Dispatch is the policy of new automatic dispatch runs.
	Dispatch DispatchConfig
	// PasswordResetTTL is how long a password reset token stays valid.
	// Default DefaultPasswordResetTTL (30 minutes): long enough to read
	// the e-mail, short enough that a mailbox read later is worth nothing.
	PasswordResetTTL time.Duration
	// OpsOnly serves only /healthz, /readyz, /metrics and the OpenAPI
	// document (a node without the api role).
	OpsOnly bool
	// TrustedProxies are the proxies (load balancers) whose
	// X-Forwarded-For and X-Request-Id the node believes: only when the
	// direct peer is inside one of these prefixes is the client address
	// read from X-Forwarded-For (the rightmost entry that is not a
	// trusted proxy; proxy.go), for the rate limits, the failed-login
	// throttle, the per-address socket cap and the access log. Default
	// none: the direct peer is the client, and every client behind a
	// proxy shares the proxy's address.
	TrustedProxies []netip.Prefix
	// TrustProxy trusts every peer as a proxy, as if TrustedProxies held
	// 0.0.0.0/0 and ::/0: tests that speak from many addresses over
	// loopback set it. No setting of the binary does; never in production.
	TrustProxy bool
	// TLSCertFile and TLSKeyFile, both set, serve HTTPS (and wss) instead
	// of plain HTTP, with the PEM certificate chain and key in these
	// files. The pair is read again when either file changes (checked at
	// most every CertCheckInterval, on a handshake); a new pair that does
	// not load keeps the old one and is logged. Default: plain HTTP.
	TLSCertFile, TLSKeyFile string
	// CertCheckInterval is how often, at most, a handshake looks whether
	// the certificate files changed. Default 2 s.
	CertCheckInterval time.Duration
	// MetricsAddr, when set, serves /metrics only on a listener of its own
	// at this address (ServeMetrics), so the public listener answers it
	// 404 (SECURITY.md, known gap 7). Default: /metrics on Addr.
	MetricsAddr string
}

// Defaults of [Config]'s zero fields; cmd/outrider's flags and the
// README's Configuration table use the same values.
const (
	DefaultAddr              = ":8080"
	DefaultMaxBodyBytes      = 64 << 10
	DefaultRatePerSecond     = 50
	DefaultRateBurst         = 100
	DefaultAuthRatePerSecond = 2
	DefaultAuthRateBurst     = 20
	DefaultRateLimitClients  = 100_000
	DefaultIssuer            = "outrider"
	DefaultAudience          = "outrider-api"
	DefaultAccessTTL         = 15 * time.Minute
	DefaultRefreshTTL        = 30 * 24 * time.Hour
	DefaultBcryptCost        = password.DefaultCost
	DefaultRequestTimeout    = 10 * time.Second
	DefaultUploadMaxBytes    = 10 << 20
	DefaultUploadTTL         = 10 * time.Minute
	DefaultDownloadTTL       = 5 * time.Minute
	DefaultOfferTTL          = 45 * time.Second
)

// DispatchConfig is the node's policy for automatic dispatch runs
// (DESIGN.md §7); the engine that runs them has its own settings
// (dispatch/engine.Config).
type DispatchConfig struct {
	// AutoFor lists the delivery options whose orders are dispatched
	// automatically when the creator does not say. Default none (manual).
	AutoFor []string
	// MaxAttempts: a run escalates after this many offers. Default
	// DefaultDispatchMaxAttempts.
	MaxAttempts int
	// Deadline: a run escalates when no driver accepted this long after
	// it started. Default DefaultDispatchDeadline.
	Deadline time.Duration
	// Lead: a scheduled order's run starts this long before
	// scheduled_for. Default DefaultDispatchLead.
	Lead time.Duration
}

// Defaults of DispatchConfig.
const (
	DefaultDispatchMaxAttempts = 5
	DefaultDispatchDeadline    = 10 * time.Minute
	DefaultDispatchLead        = 30 * time.Minute
)

// The bounds of an assign's offer_ttl_s.
const (
	MinOfferTTL = 5 * time.Second
	MaxOfferTTL = time.Hour
)

// DefaultHashQueueWait is HashQueueWait's default.
const DefaultHashQueueWait = 2 * time.Second

// DefaultMaxConcurrentHashes is MaxConcurrentHashes' default:
// GOMAXPROCS, since hashing is CPU-bound.
func DefaultMaxConcurrentHashes() int { return runtime.GOMAXPROCS(0) }

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RatePerSecond <= 0 {
		c.RatePerSecond = DefaultRatePerSecond
	}
	def(&c.RateBurst, DefaultRateBurst)
	if c.AuthRatePerSecond <= 0 {
		c.AuthRatePerSecond = DefaultAuthRatePerSecond
	}
	def(&c.AuthRateBurst, DefaultAuthRateBurst)
	def(&c.RateLimitClients, DefaultRateLimitClients)
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.AccessTTL <= 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL <= 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	def(&c.BcryptCost, DefaultBcryptCost)
	def(&c.MaxConcurrentHashes, DefaultMaxConcurrentHashes())
	if c.HashQueueWait <= 0 {
		c.HashQueueWait = DefaultHashQueueWait
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.UploadMaxBytes <= 0 {
		c.UploadMaxBytes = DefaultUploadMaxBytes
	}
	if c.UploadTTL <= 0 {
		c.UploadTTL = DefaultUploadTTL
	}
	if c.DownloadTTL <= 0 {
		c.DownloadTTL = DefaultDownloadTTL
	}
	if c.OfferTTL <= 0 {
		c.OfferTTL = DefaultOfferTTL
	}
	if c.LoginFreeFailuresAccountIP <= 0 {
		c.LoginFreeFailuresAccountIP = DefaultLoginFreeFailuresAccountIP
	}
	if c.LoginFreeFailuresAccount <= 0 {
		c.LoginFreeFailuresAccount = DefaultLoginFreeFailuresAccount
	}
	if c.LoginMaxDelayAccountIP <= 0 {
		c.LoginMaxDelayAccountIP = DefaultLoginMaxDelayAccountIP
	}
	if c.LoginMaxDelayAccount <= 0 {
		c.LoginMaxDelayAccount = DefaultLoginMaxDelayAccount
	}
	if c.LoginFailureWindow <= 0 {
		c.LoginFailureWindow = DefaultLoginFailureWindow
	}
	if c.PasswordResetTTL <= 0 {
		c.PasswordResetTTL = DefaultPasswordResetTTL
	}
	if c.Dispatch.MaxAttempts <= 0 {
		c.Dispatch.MaxAttempts = DefaultDispatchMaxAttempts
	}
	if c.Dispatch.Deadline <= 0 {
		c.Dispatch.Deadline = DefaultDispatchDeadline
	}
	if c.Dispatch.Lead <= 0 {
		c.Dispatch.Lead = DefaultDispatchLead
	}
	if c.TrackingLinkTTL <= 0 {
		c.TrackingLinkTTL = DefaultTrackingLinkTTL
	}
	if c.TrackingSpeed <= 0 {
		c.TrackingSpeed = DefaultTrackingSpeed
	}
	def(&c.TrackingStreams, DefaultTrackingStreams)
	if c.TrackingStreamInterval <= 0 {
		c.TrackingStreamInterval = DefaultTrackingStreamInterval
	}
	if c.TrackingStreamMaxAge <= 0 {
		c.TrackingStreamMaxAge = DefaultTrackingStreamMaxAge
	}
	if c.TrackingStreamKeepAlive <= 0 {
		c.TrackingStreamKeepAlive = DefaultTrackingStreamKeepAlive
	}
}

// Readiness reports whether a dependency is ready; nil means ready.
type Readiness func(ctx context.Context) error

// Server is the HTTP API of one node.
type Server struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	actors Actors
	store  Store
	tokens *tokenIssuer
	// trackingKey signs orders' tracking links (tracking.go).
	trackingKey []byte
	// orderFeed and streams serve the tracking links' event streams
	// (trackstream.go).
	orderFeed  OrderFeed
	streams    *trackStreams
	revoked    *revocations
	accounts   accountLocks // login attempts per account (throttle.go)
	hasher     *passwordHasher
	limiter    *rateLimiter
	authLim    *rateLimiter
	metrics    *httpMetrics
	registry   *prometheus.Registry
	ready      map[string]Readiness
	routeTable []routeInfo
	// literals are the routes httprouter serves as a value of another
	// route's parameter (handleLiteral), by "METHOD /path".
	literals   map[string]httprouter.Handle
	resets     *resetMailer
	realtime   Realtime
	cluster    ClusterView
	blobs      blob.Store
	blobServer http.Handler
	router     *httprouter.Router
	handler    http.Handler
	srv        *http.Server
	ln         net.Listener
	proxies    trustedPeers
	certs      *certReloader // nil: plain HTTP
	metricsSrv *http.Server  // the MetricsAddr listener's, once ServeMetrics ran
	metricsLn  net.Listener
}

// Deps are the collaborators of a Server.
type Deps struct {
	Actors Actors
	Store  Store
	Logger *slog.Logger
	Clock  func() time.Time
	// Registry serves /metrics; the API registers its own metrics in it.
	Registry *prometheus.Registry
	// Ready lists the readiness checks behind /readyz, by name.
	Ready map[string]Readiness
	// Realtime serves GET /v1/ws; nil answers 503.
	Realtime Realtime
	// OrderFeed tells the tracking links' event streams of their order's
	// events and its driver's moves (transport/ws's Gateway); nil answers
	// those streams 503.
	OrderFeed OrderFeed
	// Cluster serves GET /v1/cluster; nil answers 503.
	Cluster ClusterView
	// Blobs holds proof uploads; nil answers 503 on the upload routes.
	Blobs blob.Store
	// BlobHandler, if set, serves the blob store's own signed URLs under
	// /v1/blobs/ (the local store of outrider dev; S3 serves its own).
	BlobHandler http.Handler
	// Mail sends the password reset e-mails; nil sends none (a reset
	// request is still answered 202, and logged).
	Mail email.Sender
	// Revocations, if set, tells every node's API of the access tokens
	// revoked on any node (revocations.go); nil: a token is refused only
	// once it expires or its user's sockets are closed.
	Revocations RevocationBus
}

// New builds the API; it does not listen until Start.
func New(cfg Config, d Deps) (*Server, error) {
	cfg.defaults()
	if len(cfg.JWTSecret) < 32 {
		return nil, errors.New("httpapi: JWTSecret must be at least 32 bytes")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("httpapi: set both TLS certificate and key files, or neither")
	}
	if why := console.CheckTilesURL(cfg.Console.TilesURL); why != "" {
		return nil, fmt.Errorf("httpapi: the console's tiles URL %s", why)
	}
	var certs *certReloader
	if cfg.TLSCertFile != "" {
		var err error
		if certs, err = newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.CertCheckInterval, d.Logger); err != nil {
			return nil, fmt.Errorf("httpapi: %w", err)
		}
	}
	s := &Server{
		proxies: trustedPeers{prefixes: cfg.TrustedProxies, all: cfg.TrustProxy}, certs: certs,
		cfg: cfg, log: d.Logger, now: d.Clock, actors: d.Actors, store: d.Store,
		tokens:      newTokenIssuer(cfg.JWTSecret, cfg.Issuer, cfg.Audience, cfg.AccessTTL, d.Clock),
		trackingKey: trackingKey(cfg.JWTSecret),
		hasher:      newPasswordHasher(cfg.BcryptCost, cfg.MaxConcurrentHashes, cfg.HashQueueWait),
		limiter:     newRateLimiter(cfg.RatePerSecond, cfg.RateBurst, cfg.RateLimitClients, d.Clock),
		authLim:     newRateLimiter(cfg.AuthRatePerSecond, cfg.AuthRateBurst, cfg.RateLimitClients, d.Clock),
		metrics:     newHTTPMetrics(d.Registry),
		registry:    d.Registry,
		ready:       d.Ready,
		realtime:    d.Realtime,
		orderFeed:   d.OrderFeed,
		streams:     newTrackStreams(cfg.TrackingStreams),
		cluster:     d.Cluster,
		blobs:       d.Blobs, blobServer: d.BlobHandler,
	}
	s.router = httprouter.New()
	s.router.RedirectTrailingSlash = false
	s.router.RedirectFixedPath = false
	s.router.HandleMethodNotAllowed = true
	s.router.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(problem.NotFound, "no route for %s", r.URL.Path))
	})
	s.router.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(problem.MethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path))
	})
	s.router.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
		s.writeError(w, r, errorf(problem.Internal, "an internal error occurred"))
	}
	if d.Revocations != nil {
		r, err := newRevocations(s, d.Revocations)
		if err != nil {
			return nil, fmt.Errorf("httpapi: load token revocations: %w", err)
		}
		s.revoked = r
	}
	s.resets = newResetMailer(s, d.Mail)
	s.routes()
	if cfg.MetricsAddr == "" {
		s.router.Handler(http.MethodGet, "/metrics", s.metricsHandler())
	}
	s.handler = s.accessLog(s.cors(s.router))
	return s, nil
}

// metricsHandler serves the registry, logged as the /metrics route.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ai := accessOf(r); ai != nil {
			ai.route, ai.quiet = "/metrics", true
		}
		h.ServeHTTP(w, r)
	})
}

// ServeMetrics serves /metrics (only) on ln, the MetricsAddr listener
// the caller opened; Stop closes it. It is plain HTTP even when the API
// speaks TLS: keep the address private.
func (s *Server) ServeMetrics(ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler())
	s.metricsLn = ln
	s.metricsSrv = &http.Server{Handler: s.accessLog(mux), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		if err := s.metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "err", err)
		}
	}()
}

// MetricsAddr is the address ServeMetrics serves on ("" before it).
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// Handler is the API as an http.Handler (tests use it with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on cfg.Addr and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	s.StartOn(ctx, ln)
	return nil
}

// StartOn serves on ln, which the caller opened (to learn the port before
// the server exists); Stop closes it.
func (s *Server) StartOn(ctx context.Context, ln net.Listener) {
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serve := s.srv.Serve
	if s.certs != nil {
		// ServeTLS adds h2 to NextProtos; WebSockets upgrade on
		// HTTP/1.1 connections, which clients open for them (net/http
		// does not offer RFC 8441's extended CONNECT by default).
		s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certs.getCertificate}
		serve = func(ln net.Listener) error { return s.srv.ServeTLS(ln, "", "") }
	}
	go func() {
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
}

// TLS reports whether the server speaks HTTPS.
func (s *Server) TLS() bool { return s.certs != nil }

// Addr is the address the server listens on (after Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop drains in-flight requests until ctx ends, then closes.
func (s *Server) Stop(ctx context.Context) error {
	defer s.resets.close()
	// Shutdown waits for every request to end: end the event streams,
	// which never would (their browsers reconnect to another node).
	s.streams.shutdown()
	if s.revoked != nil {
		defer s.revoked.stop()
	}
	var merr error
	if s.metricsSrv != nil {
		merr = s.metricsSrv.Shutdown(ctx)
	}
	if s.srv == nil {
		return merr
	}
	return errors.Join(s.srv.Shutdown(ctx), merr)
}

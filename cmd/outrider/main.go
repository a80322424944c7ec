// Command outrider is the Outrider binary. `outrider serve` runs a
// production cluster node on Postgres. Every setting is a flag and an
// OUTRIDER_* environment variable (the flag wins); `outrider serve --help`
// lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/outrider/outrider/cluster"
	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/dispatch/engine"
	"github.com/outrider/outrider/persistence/blob/s3"
	"github.com/outrider/outrider/transport/bus"
	"github.com/outrider/outrider/transport/httpapi"
	"github.com/outrider/outrider/transport/httpapi/console"
	"github.com/outrider/outrider/transport/ws"
	"github.com/outrider/outrider/worker"
	"github.com/outrider/outrider/worker/email"
	"github.com/outrider/outrider/worker/thumbnail"
	"github.com/outrider/outrider/worker/webhook"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "outrider:", err)
		os.Exit(1)
	}
}

const usage = `Outrider — realtime delivery dispatch.

Usage:
  outrider dev [flags]     one node with no outside servers: SQLite, embedded NATS
  outrider serve [flags]   a production cluster node on Postgres and NATS
  outrider watch [flags] order:<id>
                           print an order's events live (replaying with --since)
  outrider cluster status [--server URL] [--json]
                           the cluster's members as a node sees them (admin token
                           in OUTRIDER_TOKEN)
  outrider healthcheck [--url URL] [--timeout D]
                           exit 0 if URL (default: this node's /readyz on
                           127.0.0.1) answers 2xx in time, else 1 (container probes)
  outrider version         the version, commit, build time and Go version
  outrider help            this text

Run "outrider dev --help" or "outrider serve --help" for the flags; each
also reads OUTRIDER_<NAME> (e.g. --http-addr and OUTRIDER_HTTP_ADDR).
`

func run(args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Print(usage)
		return nil
	}
	switch args[0] {
	case "version", "--version":
		return versionCmd(os.Stdout)
	case "healthcheck":
		return healthcheck(context.Background(), args[1:], os.Stderr)
	case "cluster":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		return clusterCmd(ctx, args[1:], os.Stdout)
	case "watch":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		return watch(ctx, args[1:], os.Stdout)
	case "serve", "dev":
		cfg, opt, err := parse(args[0], args[1:])
		if err != nil {
			return err
		}
		log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: opt.level}))
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		cfg.Build = build()
		if args[0] == "dev" {
			return runDev(ctx, cfg, opt, log)
		}
		return app.Run(ctx, cfg, log)
	}
	return fmt.Errorf("unknown command %q\n\n%s", args[0], usage)
}

// envFlags registers flags whose defaults come from OUTRIDER_* variables.
type envFlags struct {
	fs   *flag.FlagSet
	errs []error
}

func envName(flagName string) string {
	return "OUTRIDER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (e *envFlags) str(p *string, name, def, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		def = v
	}
	e.fs.StringVar(p, name, def, help+" ("+envName(name)+")")
}

func (e *envFlags) bool(p *bool, name string, def bool, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: not a boolean: %q", envName(name), v))
		}
		def = b
	}
	e.fs.BoolVar(p, name, def, help+" ("+envName(name)+")")
}

func (e *envFlags) int(p *int, name string, def int, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		if _, err := fmt.Sscan(v, &def); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: not an integer: %q", envName(name), v))
		}
	}
	e.fs.IntVar(p, name, def, help+" ("+envName(name)+")")
}

func (e *envFlags) float(p *float64, name string, def float64, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		if _, err := fmt.Sscan(v, &def); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: not a number: %q", envName(name), v))
		}
	}
	e.fs.Float64Var(p, name, def, help+" ("+envName(name)+")")
}

func (e *envFlags) dur(p *time.Duration, name string, def time.Duration, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: not a duration: %q", envName(name), v))
		}
		def = d
	}
	e.fs.DurationVar(p, name, def, help+" ("+envName(name)+")")
}

// options are what a command line sets beyond app.Config.
type options struct {
	level   slog.Level
	dataDir string
	noDemo  bool
}

// rawFlags are the flags parse converts before they go into app.Config.
type rawFlags struct {
	jwtSecret, jwtSecretFile, cors, seeds, level string
	maxBody, wsMax, uploadMax                    int
	proofFor, roles, smtpTLS, autoFor            string
	thumbPixels                                  int
	trustedProxies                               string
}

// flags defines the flags (and OUTRIDER_* variables) of `serve` or `dev`
// on a new flag set, to be parsed into cfg, opt and v. The two share every
// setting above storage and the bus. Defaults a component also applies
// are its exported Default constants, so the two cannot disagree.
func flags(mode string, cfg *app.Config, opt *options, v *rawFlags) (*flag.FlagSet, *envFlags) {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	e := &envFlags{fs: fs}
	e.str(&cfg.HTTP.Addr, "http-addr", httpapi.DefaultAddr, "HTTP listen address")
	switch mode {
	case "serve":
		e.str(&cfg.PGURL, "pg-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "Postgres URL")
		e.str(&cfg.PGSchema, "pg-schema", "", "Postgres schema for Outrider's tables (created if missing; default: the URL's search_path)")
		e.int(&cfg.PGMaxConns, "pg-max-conns", 0, "Postgres pool size (0: 4×CPUs, at least 8)")
		e.str(&cfg.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server with JetStream")
		e.str(&cfg.Relay.Namespace, "nats-namespace", "", "prefix of every NATS subject, to share one NATS server between deployments (e.g. staging.)")
		e.str(&cfg.Relay.Stream, "nats-stream", bus.DefaultStream, "JetStream stream holding the domain events")
		e.str(&cfg.Cluster.Provider, "cluster-provider", cluster.ProviderNATS, "cluster membership: nats (every node on the same NATS server and namespace joins), automanaged (a fixed seed list), kubernetes (builds with -tags kubernetes) or local (one node)")
		e.dur(&cfg.Cluster.Heartbeat, "cluster-heartbeat", cluster.DefaultHeartbeat, "how often a node renews its member record in NATS")
		e.dur(&cfg.Cluster.MemberTTL, "cluster-member-ttl", cluster.DefaultMemberTTL, "a node whose member record is not renewed for this long is taken for dead")
		e.str(&cfg.Cluster.Host, "cluster-host", cluster.DefaultHost, "cluster remote bind host")
		e.int(&cfg.Cluster.Port, "cluster-port", 0, "cluster remote port (0: any free port)")
		e.str(&cfg.Cluster.AdvertisedHost, "cluster-advertised", "", "host:port other nodes reach this node at")
		e.int(&cfg.Cluster.AutoManagedPort, "cluster-automanaged-port", cluster.DefaultAutoManagedPort, "automanaged membership HTTP port")
		e.str(&v.seeds, "cluster-seeds", "", "comma-separated automanaged host:port of every node")
		e.str(&v.jwtSecret, "jwt-secret", "", "HMAC key for access tokens, at least 32 bytes (required unless --jwt-secret-file)")
		e.str(&cfg.S3.Endpoint, "s3-endpoint", "", "S3 server host:port for proof photos (none: the upload routes answer 503)")
		e.str(&cfg.S3.Bucket, "s3-bucket", "outrider", "S3 bucket for proof photos")
		e.str(&cfg.S3.AccessKey, "s3-access-key", "", "S3 access key")
		e.str(&cfg.S3.SecretKey, "s3-secret-key", "", "S3 secret key")
		e.str(&cfg.S3.Region, "s3-region", s3.DefaultRegion, "S3 region")
		e.bool(&cfg.S3.UseSSL, "s3-use-ssl", false, "talk HTTPS to the S3 server (and presign https URLs)")
		e.str(&cfg.S3.PublicEndpoint, "s3-public-endpoint", "", "host:port (with --s3-use-ssl's scheme) or http(s)://host:port that clients reach the S3 server at, which presigned URLs name (default: --s3-endpoint)")
		e.bool(&cfg.S3.CreateBucket, "s3-create-bucket", false, "create the bucket at start-up if it is missing")
	case "dev":
		e.str(&opt.dataDir, "data-dir", "./data", "where dev mode keeps its SQLite file, NATS data and keys")
		e.bool(&opt.noDemo, "no-demo", false, "do not create and print the demo accounts")
		e.str(&v.jwtSecret, "jwt-secret", "", "HMAC key for access tokens (default: generated once into the data dir)")
	}
	e.str(&cfg.PublicURL, "public-url", "", "base URL clients reach this node at, for signed local blob URLs (dev; default http://localhost:<port>)")
	e.str(&cfg.HTTP.TLSCertFile, "tls-cert-file", "", "PEM certificate chain: serve HTTPS and wss instead of plain HTTP (with --tls-key-file; reloaded when the files change)")
	e.str(&cfg.HTTP.TLSKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	e.str(&v.trustedProxies, "trusted-proxies", "", "comma-separated CIDR prefixes of the proxies whose X-Forwarded-For and X-Request-Id are believed (none: the direct peer is the client)")
	e.str(&cfg.HTTP.MetricsAddr, "metrics-addr", "", "serve /metrics only on this address, apart from the API, which then answers it 404 (empty: /metrics on the API listener)")
	e.str(&cfg.DebugAddr, "debug-addr", "", "serve Go's pprof profiles on this address, apart from the API (off when empty; keep it private)")
	e.str(&cfg.OTLPEndpoint, "otlp-endpoint", "", "export traces over OTLP/HTTP to this collector base URL, e.g. http://otel-collector:4318 (off when empty; needs a binary built with -tags otlp, as make build and the image are)")
	e.float(&cfg.OTLPSampleRatio, "otlp-sample-ratio", 1, "share of new traces kept, 0 to 1 (a caller's traceparent decision is always followed)")
	e.int(&v.uploadMax, "upload-max-bytes", httpapi.DefaultUploadMaxBytes, "largest proof photo accepted")
	e.dur(&cfg.HTTP.UploadTTL, "upload-ttl", httpapi.DefaultUploadTTL, "lifetime of a presigned upload")
	e.dur(&cfg.HTTP.DownloadTTL, "download-ttl", httpapi.DefaultDownloadTTL, "lifetime of the proof download URLs")
	e.dur(&cfg.HTTP.OfferTTL, "offer-ttl", httpapi.DefaultOfferTTL, "how long a driver has to accept an offer when the admin does not say (offer_ttl_s)")
	e.str(&v.autoFor, "dispatch-auto-for", "", "comma-separated delivery options (standard, express, scheduled) whose orders are dispatched automatically unless the admin says dispatch: manual")
	e.int(&cfg.HTTP.Dispatch.MaxAttempts, "dispatch-max-attempts", httpapi.DefaultDispatchMaxAttempts, "offers an automatic dispatch run makes before it escalates to the admins")
	e.dur(&cfg.HTTP.Dispatch.Deadline, "dispatch-deadline", httpapi.DefaultDispatchDeadline, "how long an automatic dispatch run may go without an accepted offer before it escalates")
	e.dur(&cfg.HTTP.Dispatch.Lead, "dispatch-lead", httpapi.DefaultDispatchLead, "how long before scheduled_for a scheduled order's automatic dispatch starts")
	e.float(&cfg.Dispatch.RadiusM, "dispatch-radius-m", engine.DefaultRadiusM, "first circle (metres) around the pickup in which automatic dispatch looks for drivers")
	e.int(&cfg.Dispatch.Widening, "dispatch-widening", engine.DefaultWidening, "how many times the circle doubles, one round interval apart, while nobody is found")
	e.dur(&cfg.Dispatch.RoundInterval, "dispatch-round-interval", engine.DefaultRoundInterval, "pause between two dispatch rounds that found nobody to offer the order to")
	e.dur(&cfg.Dispatch.MaxFixAge, "dispatch-max-fix-age", engine.DefaultMaxFixAge, "drivers whose last location is older are not offered orders")
	e.int(&cfg.Dispatch.Candidates, "dispatch-candidates", engine.DefaultCandidates, "drivers one dispatch round ranks")
	e.str(&v.proofFor, "proof-required-for", "", "comma-separated delivery options (standard, express, scheduled) whose orders need a proof before delivered")
	e.str(&v.roles, "roles", "api,worker", "what this node does: api (HTTP and WebSockets), worker (notifications, thumbnails, webhooks, e-mail), or both")
	e.dur(&cfg.Worker.AckWait, "worker-ack-wait", worker.DefaultAckWait, "how long a worker may hold an event before it is redelivered to another")
	e.int(&cfg.Worker.MaxDeliver, "worker-max-deliver", worker.DefaultMaxDeliver, "tries of a failing worker job before it goes to the dead-letter stream")
	e.int(&cfg.Worker.Concurrency, "worker-concurrency", worker.DefaultConcurrency, "jobs each worker consumer runs at once")
	e.int(&cfg.Worker.ThumbnailConcurrency, "thumbnail-concurrency", worker.DefaultThumbnailConcurrency, "proof photos decoded at once (each may take a few hundred MB)")
	e.int(&v.thumbPixels, "thumbnail-max-pixels", thumbnail.DefaultMaxPixels, "largest photo (width × height) the worker decodes; larger ones are refused unread")
	e.dur(&cfg.Worker.RetryBase, "worker-retry-base", worker.DefaultRetryBase, "first back-off of a failing job (doubling, with jitter)")
	e.dur(&cfg.Worker.RetryMax, "worker-retry-max", worker.DefaultRetryMax, "longest back-off of a failing job")
	e.dur(&cfg.Worker.AttemptRetention, "webhook-attempt-retention", worker.DefaultAttemptRetention, "how long webhook delivery attempts stay listable")
	e.dur(&cfg.Worker.ProcessedRetention, "processed-retention", worker.DefaultProcessedRetention, "how long e-mail sent marks are kept (longer than the events stream keeps events)")
	e.dur(&cfg.Worker.LocationRetention, "location-retention", worker.DefaultLocationRetention, "how long drivers' location history is kept")
	e.dur(&cfg.Worker.NotificationRetention, "notification-retention", worker.DefaultNotificationRetention, "how long read notifications are kept (unread ones stay)")
	e.dur(&cfg.Worker.RefreshRetention, "refresh-retention", worker.DefaultRefreshRetention, "how long refresh tokens are kept after they expired or were revoked")
	e.dur(&cfg.Worker.IdempotencyRetention, "idempotency-retention", worker.DefaultIdempotencyRetention, "how long Idempotency-Key answers are kept")
	e.int(&cfg.Worker.WebhookMaxAttempts, "webhook-max-attempts", worker.DefaultWebhookMaxAttempts, "tries of one webhook delivery")
	e.int(&cfg.Worker.WebhookFailureLimit, "webhook-failure-limit", worker.DefaultWebhookFailureLimit, "consecutive failed deliveries that disable a webhook endpoint")
	e.bool(&cfg.Worker.Webhook.AllowPrivate, "webhook-allow-private", false, "let webhook deliveries reach loopback, private and link-local addresses (off: only public ones)")
	e.dur(&cfg.Worker.Webhook.Timeout, "webhook-timeout", webhook.DefaultTimeout, "time limit of one webhook delivery")
	e.str(&cfg.SMTP.Addr, "smtp-addr", "", "SMTP server host:port for e-mail notifications (none: no e-mail)")
	e.str(&cfg.SMTP.From, "smtp-from", "Outrider <outrider@localhost>", "sender of e-mail notifications")
	e.str(&cfg.SMTP.Username, "smtp-username", "", "SMTP user (AUTH PLAIN)")
	e.str(&cfg.SMTP.Password, "smtp-password", "", "SMTP password")
	e.str(&v.smtpTLS, "smtp-starttls", string(email.DefaultStartTLS), "STARTTLS: none, opportunistic or required")
	e.str(&v.jwtSecretFile, "jwt-secret-file", "", "file holding the access-token key")
	e.str(&cfg.AdminEmail, "admin-email", "", "e-mail of the first admin, created at start-up if missing")
	e.str(&cfg.AdminPassword, "admin-password", "", "password of the first admin")
	e.str(&v.cors, "cors-origins", "", "comma-separated browser origins allowed by CORS and WebSocket origin checks")
	e.int(&v.maxBody, "max-body-bytes", httpapi.DefaultMaxBodyBytes, "largest request body accepted (413 above)")
	e.float(&cfg.HTTP.RatePerSecond, "rate-per-second", httpapi.DefaultRatePerSecond, "requests per second per client")
	e.int(&cfg.HTTP.RateBurst, "rate-burst", httpapi.DefaultRateBurst, "burst of requests per client")
	e.float(&cfg.HTTP.AuthRatePerSecond, "auth-rate-per-second", httpapi.DefaultAuthRatePerSecond, "signup/login/refresh per second per IP")
	e.int(&cfg.HTTP.AuthRateBurst, "auth-rate-burst", httpapi.DefaultAuthRateBurst, "burst of signup/login/refresh per IP")
	e.int(&cfg.HTTP.LoginFreeFailuresAccountIP, "login-free-failures-account-ip", httpapi.DefaultLoginFreeFailuresAccountIP, "failed logins on one account from one address before each further try waits (1 s, doubling)")
	e.dur(&cfg.HTTP.LoginMaxDelayAccountIP, "login-max-delay-account-ip", httpapi.DefaultLoginMaxDelayAccountIP, "longest wait between two logins on one account from one address after failures")
	e.int(&cfg.HTTP.LoginFreeFailuresAccount, "login-free-failures-account", httpapi.DefaultLoginFreeFailuresAccount, "failed logins on one account from anywhere before each further try waits (1 s, doubling)")
	e.dur(&cfg.HTTP.LoginMaxDelayAccount, "login-max-delay-account", httpapi.DefaultLoginMaxDelayAccount, "longest wait between two logins on one account from anywhere (short: failures must not lock the owner out)")
	e.dur(&cfg.HTTP.LoginFailureWindow, "login-failure-window", httpapi.DefaultLoginFailureWindow, "failed logins are forgotten this long after the last one")
	e.dur(&cfg.HTTP.PasswordResetTTL, "password-reset-ttl", httpapi.DefaultPasswordResetTTL, "how long a password reset token (sent by e-mail) stays valid; it works once")
	e.dur(&cfg.HTTP.TrackingLinkTTL, "tracking-link-ttl", httpapi.DefaultTrackingLinkTTL, "how long an order's tracking link works after the order ended")
	e.float(&cfg.HTTP.TrackingSpeed, "tracking-speed", httpapi.DefaultTrackingSpeed, "average speed in m/s a tracking link's estimated arrival assumes")
	e.int(&cfg.HTTP.TrackingStreams, "tracking-streams", httpapi.DefaultTrackingStreams, "tracking links' event streams open at once on this node; one more gets 503 with Retry-After")
	e.dur(&cfg.HTTP.TrackingStreamInterval, "tracking-stream-interval", httpapi.DefaultTrackingStreamInterval, "how often at most a tracking link's event stream sends the driver's moving position (the newest wins)")
	e.dur(&cfg.HTTP.TrackingStreamMaxAge, "tracking-stream-max-age", httpapi.DefaultTrackingStreamMaxAge, "a tracking link's event stream closes this long after it opened (the browser reconnects)")
	e.str(&cfg.HTTP.Console.TilesURL, "console-tiles-url", "", "map tiles URL template for the console and tracking pages, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png (none: a plain map that needs no internet)")
	e.str(&cfg.HTTP.Console.TilesAttribution, "console-tiles-attribution", "", "attribution the maps show for the tiles (tile servers require one)")
	e.int(&cfg.HTTP.Console.TilesMaxZoom, "console-tiles-max-zoom", console.DefaultTilesMaxZoom, "deepest zoom level the tiles server has")
	e.int(&cfg.HTTP.BcryptCost, "bcrypt-cost", httpapi.DefaultBcryptCost, "bcrypt cost of password hashes")
	e.dur(&cfg.HTTP.HashQueueWait, "password-queue-wait", httpapi.DefaultHashQueueWait, "longest a login, signup or password change waits for a hashing slot (one per CPU) before 503 with Retry-After")
	e.dur(&cfg.HTTP.AccessTTL, "access-ttl", httpapi.DefaultAccessTTL, "access token lifetime")
	e.dur(&cfg.HTTP.RefreshTTL, "refresh-ttl", httpapi.DefaultRefreshTTL, "refresh token lifetime")
	e.int(&v.wsMax, "ws-max-message-bytes", ws.DefaultMaxMessageBytes, "largest WebSocket client frame (closed with 1009 above)")
	e.int(&cfg.WS.SendQueueSize, "ws-send-queue", ws.DefaultSendQueueSize, "frames queued for a slow WebSocket client before it is cut off (4008)")
	e.int(&cfg.WS.SendQueueBytes, "ws-send-queue-bytes", ws.DefaultSendQueueBytes, "bytes of frames queued for a slow WebSocket client before it is cut off (4008)")
	e.int(&cfg.WS.MaxBatchFrames, "ws-max-batch-frames", ws.DefaultMaxBatchFrames, "most frames in one batch sent to a client that asked for batches (?batch=1)")
	e.int(&cfg.WS.MaxBatchBytes, "ws-max-batch-bytes", ws.DefaultMaxBatchBytes, "most bytes in one batch sent to a client that asked for batches (a larger frame goes alone)")
	e.float(&cfg.WS.InboundRate, "ws-inbound-rate", ws.DefaultInboundRate, "WebSocket client frames per second per session")
	e.int(&cfg.WS.InboundBurst, "ws-inbound-burst", ws.DefaultInboundBurst, "burst of WebSocket client frames per session")
	e.int(&cfg.WS.MaxSessionsCustomer, "ws-max-sessions-customer", ws.DefaultMaxSessionsCustomer, "live WebSocket sessions one customer may hold (a newer one closes the oldest, 4009)")
	e.int(&cfg.WS.MaxSessionsDriver, "ws-max-sessions-driver", ws.DefaultMaxSessionsDriver, "live WebSocket sessions one driver may hold")
	e.int(&cfg.WS.MaxSessionsAdmin, "ws-max-sessions-admin", ws.DefaultMaxSessionsAdmin, "live WebSocket sessions one admin may hold")
	e.int(&cfg.WS.MaxSessionsPerAddress, "ws-max-sessions-per-address", ws.DefaultMaxSessionsPerAddress, "live WebSocket sessions one client address may hold on a node, whatever the accounts (beyond: 429)")
	e.int(&cfg.WS.MaxSessionsNode, "ws-max-sessions-node", 0, "live WebSocket sessions a node may hold (beyond: 503); 0: the open-file limit less 1,024, or less a quarter under a limit below 4,096")
	e.float(&cfg.WS.LocationRate, "ws-location-rate", ws.DefaultLocationRate, "location fixes per second a driver's session passes on (faster ones are dropped)")
	e.dur(&cfg.WS.ReadLinger, "ws-read-linger", ws.DefaultReadLinger, "how long a WebSocket session's reader waits for another frame before the socket goes back to the node's poller")
	e.bool(&cfg.WS.BlockingReads, "ws-blocking-reads", false, "read every WebSocket session on a goroutine of its own instead of the epoll poller (more memory per idle socket)")
	e.dur(&cfg.Cluster.IdleTimeout, "actor-idle-timeout", cluster.DefaultIdleTimeout, "idle actors passivate after this long")
	e.dur(&cfg.ShutdownTimeout, "shutdown-timeout", app.DefaultShutdownTimeout, "graceful shutdown budget")
	e.str(&v.level, "log-level", "info", "debug, info, warn or error")
	return fs, e
}

// parse reads the flags (and OUTRIDER_* variables) of `serve` or `dev`.
func parse(mode string, args []string) (app.Config, options, error) {
	var cfg app.Config
	var opt options
	var v rawFlags
	fs, e := flags(mode, &cfg, &opt, &v)
	if err := fs.Parse(args); err != nil {
		return cfg, opt, err
	}
	if len(e.errs) > 0 {
		return cfg, opt, errors.Join(e.errs...)
	}
	if v.jwtSecretFile != "" {
		b, err := os.ReadFile(v.jwtSecretFile)
		if err != nil {
			return cfg, opt, fmt.Errorf("read jwt secret file: %w", err)
		}
		v.jwtSecret = strings.TrimSpace(string(b))
	}
	if mode == "dev" {
		if err := devDefaults(&cfg, &opt, &v.jwtSecret); err != nil {
			return cfg, opt, err
		}
	}
	if len(v.jwtSecret) < 32 {
		return cfg, opt, errors.New("set OUTRIDER_JWT_SECRET (or --jwt-secret, --jwt-secret-file) to at least 32 bytes")
	}
	cfg.HTTP.JWTSecret = []byte(v.jwtSecret)
	if cfg.OTLPSampleRatio < 0 || cfg.OTLPSampleRatio > 1 {
		return cfg, opt, fmt.Errorf("--otlp-sample-ratio (OUTRIDER_OTLP_SAMPLE_RATIO) %v: want 0 to 1", cfg.OTLPSampleRatio)
	}
	if cfg.OTLPEndpoint != "" && !app.OTLPBuilt {
		return cfg, opt, errors.New("--otlp-endpoint (OUTRIDER_OTLP_ENDPOINT): this binary was built without the OTLP exporter; build it with -tags otlp (make build) or unset it")
	}
	if (cfg.HTTP.TLSCertFile == "") != (cfg.HTTP.TLSKeyFile == "") {
		return cfg, opt, errors.New("tls: set both --tls-cert-file and --tls-key-file (OUTRIDER_TLS_CERT_FILE, OUTRIDER_TLS_KEY_FILE), or neither")
	}
	proxies, err := httpapi.ParseTrustedProxies(v.trustedProxies)
	if err != nil {
		return cfg, opt, fmt.Errorf("%w (--trusted-proxies, OUTRIDER_TRUSTED_PROXIES)", err)
	}
	cfg.HTTP.TrustedProxies = proxies
	cfg.HTTP.MaxBodyBytes = int64(v.maxBody)
	cfg.HTTP.UploadMaxBytes = int64(v.uploadMax)
	cfg.HTTP.ProofRequiredFor = splitList(v.proofFor)
	cfg.HTTP.Dispatch.AutoFor = splitList(v.autoFor)
	cfg.Roles = splitList(v.roles)
	for _, r := range cfg.Roles {
		if r != "api" && r != "worker" {
			return cfg, opt, fmt.Errorf("roles: %q is not api or worker", r)
		}
	}
	if len(cfg.Roles) == 0 {
		return cfg, opt, errors.New("roles: name at least one of api, worker")
	}
	cfg.SMTP.StartTLS = email.StartTLS(v.smtpTLS)
	cfg.Worker.Thumbnail.MaxPixels = int64(v.thumbPixels)
	for name, list := range map[string][]string{"proof-required-for": cfg.HTTP.ProofRequiredFor, "dispatch-auto-for": cfg.HTTP.Dispatch.AutoFor} {
		for _, o := range list {
			if o != "standard" && o != "express" && o != "scheduled" {
				return cfg, opt, fmt.Errorf("%s: %q is not a delivery option", name, o)
			}
		}
	}
	if cfg.Dispatch.RadiusM <= 0 || cfg.Dispatch.RadiusM > 50_000 {
		return cfg, opt, errors.New("dispatch-radius-m: must be more than 0 and at most 50000")
	}
	if cfg.Dispatch.Widening < 0 || cfg.Dispatch.Widening > 4 {
		return cfg, opt, errors.New("dispatch-widening: must be 0..4")
	}
	cfg.WS.MaxMessageBytes = int64(v.wsMax)
	cfg.HTTP.CORSOrigins = splitList(v.cors)
	cfg.WS.AllowedOrigins = cfg.HTTP.CORSOrigins
	cfg.Cluster.Seeds = splitList(v.seeds)
	if err := opt.level.UnmarshalText([]byte(v.level)); err != nil {
		return cfg, opt, fmt.Errorf("log level: %w", err)
	}
	return cfg, opt, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

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
	"strings"
	"syscall"
	"time"

	"github.com/outrider/outrider/cluster"
	"github.com/outrider/outrider/cmd/outrider/app"
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
  outrider serve [flags]   run a cluster node (Postgres)
  outrider help            this text

Run "outrider serve --help" for the flags; each also reads OUTRIDER_<NAME>.
`

func run(args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Print(usage)
		return nil
	}
	switch args[0] {
	case "serve":
		cfg, logLevel, err := parseServe(args[1:])
		if err != nil {
			return err
		}
		log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
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

func parseServe(args []string) (app.Config, slog.Level, error) {
	var cfg app.Config
	var jwtSecret, jwtSecretFile, cors, seeds, level string
	var maxBody int
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	e := &envFlags{fs: fs}
	e.str(&cfg.HTTP.Addr, "http-addr", ":8080", "HTTP listen address")
	e.str(&cfg.PGURL, "pg-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "Postgres URL")
	e.str(&cfg.PGSchema, "pg-schema", "", "Postgres schema for Outrider's tables (created if missing; default: the URL's search_path)")
	e.str(&cfg.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server with JetStream")
	e.str(&cfg.Relay.Namespace, "nats-namespace", "", "prefix of every NATS subject, to share one NATS server between deployments (e.g. staging.)")
	e.str(&cfg.Relay.Stream, "nats-stream", "OUTRIDER_EVENTS", "JetStream stream holding the domain events")
	e.int(&cfg.PGMaxConns, "pg-max-conns", 0, "Postgres pool size (0: 4×CPUs, at least 8)")
	e.str(&jwtSecret, "jwt-secret", "", "HMAC key for access tokens, at least 32 bytes (required unless --jwt-secret-file)")
	e.str(&jwtSecretFile, "jwt-secret-file", "", "file holding the access-token key")
	e.str(&cfg.AdminEmail, "admin-email", "", "e-mail of the first admin, created at start-up if missing")
	e.str(&cfg.AdminPassword, "admin-password", "", "password of the first admin")
	e.str(&cors, "cors-origins", "", "comma-separated browser origins allowed by CORS")
	e.int(&maxBody, "max-body-bytes", 64<<10, "largest request body accepted (413 above)")
	e.float(&cfg.HTTP.RatePerSecond, "rate-per-second", 50, "requests per second per client")
	e.int(&cfg.HTTP.RateBurst, "rate-burst", 100, "burst of requests per client")
	e.float(&cfg.HTTP.AuthRatePerSecond, "auth-rate-per-second", 2, "signup/login/refresh per second per IP")
	e.int(&cfg.HTTP.AuthRateBurst, "auth-rate-burst", 20, "burst of signup/login/refresh per IP")
	e.int(&cfg.HTTP.BcryptCost, "bcrypt-cost", 10, "bcrypt cost of password hashes")
	e.dur(&cfg.HTTP.AccessTTL, "access-ttl", 15*time.Minute, "access token lifetime")
	e.dur(&cfg.HTTP.RefreshTTL, "refresh-ttl", 30*24*time.Hour, "refresh token lifetime")
	e.str(&cfg.Cluster.Provider, "cluster-provider", cluster.ProviderLocal, "cluster membership: local (one node) or automanaged")
	e.str(&cfg.Cluster.Host, "cluster-host", "127.0.0.1", "cluster remote bind host")
	e.int(&cfg.Cluster.Port, "cluster-port", 0, "cluster remote port (0: any free port)")
	e.str(&cfg.Cluster.AdvertisedHost, "cluster-advertised", "", "host:port other nodes reach this node at")
	e.int(&cfg.Cluster.AutoManagedPort, "cluster-automanaged-port", 6330, "automanaged membership HTTP port")
	e.str(&seeds, "cluster-seeds", "", "comma-separated automanaged host:port of every node")
	e.dur(&cfg.Cluster.IdleTimeout, "actor-idle-timeout", 2*time.Minute, "idle actors passivate after this long")
	e.dur(&cfg.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "graceful shutdown budget")
	e.str(&level, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, 0, err
	}
	if len(e.errs) > 0 {
		return cfg, 0, errors.Join(e.errs...)
	}
	if jwtSecretFile != "" {
		b, err := os.ReadFile(jwtSecretFile)
		if err != nil {
			return cfg, 0, fmt.Errorf("read jwt secret file: %w", err)
		}
		jwtSecret = strings.TrimSpace(string(b))
	}
	if len(jwtSecret) < 32 {
		return cfg, 0, errors.New("set OUTRIDER_JWT_SECRET (or --jwt-secret, --jwt-secret-file) to at least 32 bytes")
	}
	cfg.HTTP.JWTSecret = []byte(jwtSecret)
	cfg.HTTP.MaxBodyBytes = int64(maxBody)
	cfg.HTTP.CORSOrigins = splitList(cors)
	cfg.Cluster.Seeds = splitList(seeds)
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return cfg, 0, fmt.Errorf("log level: %w", err)
	}
	return cfg, lv, nil
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

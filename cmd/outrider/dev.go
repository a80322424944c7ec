package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/outrider/outrider/cluster"
	"github.com/outrider/outrider/cmd/outrider/app"
)

// devDefaults points a dev node at its data dir: SQLite file, embedded
// NATS, one local cluster member, and a JWT key generated once and kept
// there (so tokens survive restarts).
func devDefaults(cfg *app.Config, opt *options, jwtSecret *string) error {
	dir, err := filepath.Abs(opt.dataDir)
	if err != nil {
		return err
	}
	opt.dataDir = dir
	if err := os.MkdirAll(filepath.Join(dir, "nats"), 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	cfg.SQLitePath = filepath.Join(dir, "outrider.db")
	cfg.EmbeddedNATSDir = filepath.Join(dir, "nats")
	cfg.BlobDir = filepath.Join(dir, "blobs")
	if cfg.SMTP.Addr == "" {
		cfg.MailLog = true // e-mails are logged, not sent
	}
	cfg.Cluster.Provider = cluster.ProviderLocal
	if *jwtSecret == "" {
		s, err := loadOrCreateKey(filepath.Join(dir, "jwt-secret"))
		if err != nil {
			return err
		}
		*jwtSecret = s
	}
	return nil
}

func loadOrCreateKey(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	key := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}

// runDev starts the node, seeds the demo accounts and prints the banner.
func runDev(ctx context.Context, cfg app.Config, opt options, log *slog.Logger) error {
	var demo []app.DemoAccount
	if !opt.noDemo {
		// Seed before serving: /readyz is 200 only once the demo logins work.
		cfg.BeforeServe = func(ctx context.Context, n *app.Node) error {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var err error
			demo, err = n.SeedDemo(sctx, opt.dataDir)
			return err
		}
	}
	n, err := app.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	banner(os.Stdout, n.Addr(), opt.dataDir, demo)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return n.Stop(sctx)
}

func banner(w io.Writer, addr, dataDir string, demo []app.DemoAccount) {
	host := addr
	if strings.HasPrefix(host, "[::]:") || strings.HasPrefix(host, "0.0.0.0:") {
		host = "localhost:" + host[strings.LastIndex(host, ":")+1:]
	}
	fmt.Fprintf(w, `
  Outrider dev node ready

  Console    http://%[1]s/console   (log in with a demo account below)
  API        http://%[1]s   (OpenAPI: http://%[1]s/v1/openapi.json)
  WebSocket  ws://%[1]s/v1/ws   (AsyncAPI: http://%[1]s/v1/asyncapi.json)
  Data       %[2]s   (SQLite, embedded NATS, proof photos, keys; delete it to start over)
  Worker     notifications, thumbnails, webhooks, e-mail (logged unless OUTRIDER_SMTP_ADDR is set)
`, host, dataDir)
	if len(demo) > 0 {
		fmt.Fprintf(w, "\n  Demo accounts (log in with POST /v1/auth/login):\n")
		for _, a := range demo {
			fmt.Fprintf(w, "    %-9s %-24s %s\n", a.Role, a.Email, a.Password)
		}
	}
	fmt.Fprintf(w, `
  For production run "outrider serve" with OUTRIDER_PG_URL, OUTRIDER_NATS_URL,
  OUTRIDER_S3_* and OUTRIDER_JWT_SECRET set (see README.md, Configuration).

`)
}

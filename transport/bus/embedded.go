package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Embedded is a NATS server with JetStream running inside this process,
// for `outrider dev`: no outside server, no network listener (clients
// connect in-process), JetStream stored under a directory.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts the embedded server storing JetStream in dir.
// Every JetStream write is synced to disk before it is acknowledged
// (sync_interval: always), so an event the relay marked published
// survives kill -9 and power loss, like the SQLite journal beside it.
func StartEmbedded(dir string) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "outrider-dev",
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		SyncAlways: true,
		NoSigs:     true,
		NoLog:      true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 10s")
	}
	return &Embedded{srv: srv}, nil
}

// Connect opens an in-process client connection.
func (e *Embedded) Connect(opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect("", append(opts, nats.InProcessServer(e.srv))...)
}

// Stop shuts the server down and waits for it.
func (e *Embedded) Stop() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// SoleLeader always leads: with one node (dev mode on SQLite) there is
// no other relay to exclude.
type SoleLeader struct{}

// TryLead always succeeds; the lease is never lost.
func (SoleLeader) TryLead(ctx context.Context) (<-chan struct{}, func(), bool, error) {
	return make(chan struct{}), func() {}, true, nil
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	testprovider "github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
)

// Node is one member of the Outrider actor cluster: it hosts the kinds it
// was built with and routes requests for any identity to the member that
// owns it. A Node is started once and stopped once; it is safe for
// concurrent use.
//
// Run one Node per process in production. Tests may start several, but not
// at the same time under -race: the library's remote start-up writes gRPC's
// process-global logger, racing any other live node's gRPC server.
type Node struct {
	cfg     Config
	logger  *slog.Logger
	kinds   []Kind
	metrics *metrics

	ready    atomic.Bool
	members  atomic.Pointer[[]string] // addresses in the latest topology
	joined   chan struct{}            // closed when the topology first includes this node
	joinOnce sync.Once

	// lifecycle serialises Start's set-up and Stop's hand-over, so Stop never
	// runs while the library cluster is half built.
	lifecycle sync.Mutex

	mu       sync.RWMutex // guards the fields below
	started  bool
	c        *pcluster.Cluster // nil before Start and after Stop
	system   *actor.ActorSystem
	addr     string
	sub      *eventstream.Subscription
	stopping chan struct{} // closed when Stop is first called
	stopped  chan struct{} // closed when the library shutdown has finished
}

// New builds a Node that will host the given kinds. It does no I/O; call
// Start. A nil logger means slog.Default(). Metrics are registered with
// cfg.Registerer at once (collectors already registered there by another
// Node are shared).
func New(cfg Config, logger *slog.Logger, kinds ...Kind) *Node {
	if logger == nil {
		logger = slog.Default()
	}
	cfg = cfg.withDefaults()
	return &Node{
		cfg:      cfg,
		logger:   logger,
		kinds:    append([]Kind(nil), kinds...),
		metrics:  newMetrics(cfg.Registerer, logger),
		joined:   make(chan struct{}),
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

// Config returns the configuration in use, defaults filled in.
func (n *Node) Config() Config {
	c := n.cfg
	c.Seeds = append([]string(nil), c.Seeds...)
	return c
}

// IdleTimeout is how long an idle actor should live before it passivates;
// actor adapters passivate after it.
func (n *Node) IdleTimeout() time.Duration { return n.cfg.IdleTimeout }

// Ready reports whether this node is currently a member of the cluster
// topology, i.e. it can both host activations and route requests. It turns
// false when the node is stopped or drops out of the topology.
func (n *Node) Ready() bool { return n.ready.Load() }

// Members returns the remote addresses of the members in the latest
// topology this node has seen (itself included), in no particular order;
// nil before the first topology. For readiness probes and diagnostics.
func (n *Node) Members() []string {
	p := n.members.Load()
	if p == nil {
		return nil
	}
	return append([]string(nil), (*p)...)
}

// Addr returns the remote address ("host:port") actually bound, or the
// advertised one when Config.AdvertisedHost is set; "" before Start.
func (n *Node) Addr() string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.addr
}

// System returns the underlying actor system (nil before Start), for
// spawning local, non-cluster actors. Do not shut it down directly.
func (n *Node) System() *actor.ActorSystem {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.system
}

// Start binds the remote port, joins the cluster (identities are placed by
// rendezvous hashing, as the library's disthash lookup does; see lookup.go
// for the fixes in our copy) and waits until the
// topology includes this node, or until ctx is done. A Node starts once;
// after a failed Start, call Stop to release what was set up.
func (n *Node) Start(ctx context.Context) error {
	n.lifecycle.Lock()
	err := n.setUp()
	n.lifecycle.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-n.joined:
		n.logger.Info("cluster: joined", slog.String("address", n.Addr()), slog.String("provider", n.cfg.Provider))
		return nil
	case <-n.stopping:
		return errors.New("cluster: stopped while starting")
	case <-ctx.Done():
		return fmt.Errorf("cluster: waiting to join: %w", ctx.Err())
	}
}

// setUp builds and starts the library cluster. Called with n.lifecycle held.
func (n *Node) setUp() error {
	n.mu.Lock()
	if n.started {
		n.mu.Unlock()
		return errors.New("cluster: node already started")
	}
	n.started = true
	n.mu.Unlock()
	select {
	case <-n.stopping:
		return errors.New("cluster: node was stopped")
	default:
	}
	if err := n.cfg.validate(); err != nil {
		return err
	}

	system := actor.NewActorSystem(actor.WithLoggerFactory(n.libraryLogger()))
	provider, err := n.provider()
	if err != nil {
		return err
	}
	var remoteOpts []remote.ConfigOption
	if n.cfg.AdvertisedHost != "" {
		remoteOpts = append(remoteOpts, remote.WithAdvertisedHost(n.cfg.AdvertisedHost))
	}
	kinds := make([]*pcluster.Kind, 0, len(n.kinds))
	props := make(map[string]*actor.Props, len(n.kinds))
	for _, k := range n.kinds {
		kinds = append(kinds, pcluster.NewKind(k.Name, k.Props))
		props[k.Name] = k.Props
	}
	ccfg := pcluster.Configure(n.cfg.Name, provider, newIdentityLookup(props),
		remote.Configure(n.cfg.Host, n.cfg.Port, remoteOpts...),
		pcluster.WithKinds(kinds...),
		pcluster.WithRequestTimeout(n.cfg.RequestTimeout),
	)
	if n.cfg.Provider == ProviderLocal {
		// A lone member has nobody to gossip with, and the library's gossip
		// tick reads the block list without its lock while shutdown writes
		// it (a data race -race reports at Stop). Tick rarely instead.
		ccfg.GossipInterval = time.Hour
	}
	c := pcluster.New(system, ccfg)
	sub := system.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*pcluster.ClusterTopology); ok {
			n.onTopology(system.ID, t)
		}
	})

	// StartMember panics on failure (e.g. the port is taken) and sleeps 1s.
	// It also sets gRPC's process-global logger without synchronisation,
	// so members started in one process (tests) start one at a time.
	startMu.Lock()
	err = safely(c.StartMember)
	startMu.Unlock()
	if err != nil {
		system.EventStream.Unsubscribe(sub)
		_ = safely(func() { c.Shutdown(false) })
		return fmt.Errorf("cluster: start member: %w", err)
	}

	n.mu.Lock()
	n.c, n.system, n.sub, n.addr = c, system, sub, system.Address()
	n.mu.Unlock()
	return nil
}

// onTopology tracks whether this node is in the member list. The library
// publishes topology events synchronously under its member-list lock, so
// this must stay cheap and must not call back into the cluster.
func (n *Node) onTopology(selfID string, t *pcluster.ClusterTopology) {
	in := false
	addrs := make([]string, 0, len(t.Members))
	for _, m := range t.Members {
		addrs = append(addrs, m.Address())
		if m.Id == selfID {
			in = true
		}
	}
	n.members.Store(&addrs)
	select {
	case <-n.stopping:
		in = false
	default:
	}
	n.ready.Store(in)
	if in {
		n.joinOnce.Do(func() { close(n.joined) })
	}
}

// provider builds the membership provider named in the config.
func (n *Node) provider() (pcluster.ClusterProvider, error) {
	switch n.cfg.Provider {
	case ProviderAutoManaged:
		// The library logs, but does not report, a failure to bind its
		// health endpoint; check the port first so Start can say so.
		ln, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(n.cfg.AutoManagedPort)))
		if err != nil {
			return nil, fmt.Errorf("cluster: automanaged port: %w", err)
		}
		_ = ln.Close()
		return automanaged.NewWithConfig(n.cfg.AutoManagedRefresh, n.cfg.AutoManagedPort, n.cfg.Seeds...), nil
	default:
		return testprovider.NewTestProvider(testprovider.NewInMemAgent()), nil
	}
}

// Stop leaves the cluster gracefully: it marks the node unready, stops
// every activation it hosts (they receive Stopping/Stopped, i.e. they
// passivate), deregisters from the provider and closes the remote. It
// returns when that is done or when ctx ends, whichever is first; the
// shutdown goes on in the background in the latter case. Stop is
// idempotent and safe to call before, during or after Start.
func (n *Node) Stop(ctx context.Context) error {
	n.lifecycle.Lock()
	n.mu.Lock()
	select {
	case <-n.stopping:
	default:
		close(n.stopping)
		n.ready.Store(false)
		c, system, sub := n.c, n.system, n.sub
		n.c = nil // new requests fail fast with ErrUnavailable
		go func() {
			defer close(n.stopped)
			if c == nil {
				return
			}
			system.EventStream.Unsubscribe(sub)
			if err := safely(func() { c.Shutdown(true) }); err != nil {
				n.logger.Warn("cluster: shutdown", slog.Any("error", err))
			}
			n.logger.Info("cluster: left", slog.String("address", n.Addr()))
		}()
	}
	n.mu.Unlock()
	n.lifecycle.Unlock()

	select {
	case <-n.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: stop: %w", ctx.Err())
	}
}

// cluster returns the running library cluster, or nil.
func (n *Node) cluster() *pcluster.Cluster {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.c
}

// startMu serialises library start-ups within the process.
var startMu sync.Mutex

// safely runs f and turns a panic into an error: the library reports many
// start-up and shutdown failures by panicking.
func safely(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	f()
	return nil
}

// libraryLogger routes Proto.Actor's logs to the node's logger, dropping
// records below Config.LibraryLogLevel.
func (n *Node) libraryLogger() func(*actor.ActorSystem) *slog.Logger {
	base := slog.New(&levelFilter{min: n.cfg.LibraryLogLevel, next: n.logger.Handler()}).
		With(slog.String("lib", "protoactor"))
	return func(s *actor.ActorSystem) *slog.Logger {
		return base.With(slog.String("system", s.ID))
	}
}

// levelFilter is a slog.Handler that drops records below min.
type levelFilter struct {
	min  slog.Leveler
	next slog.Handler
}

func (h *levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min.Level() && h.next.Enabled(ctx, l)
}

func (h *levelFilter) Handle(ctx context.Context, r slog.Record) error {
	return h.next.Handle(ctx, r)
}

func (h *levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelFilter{min: h.min, next: h.next.WithAttrs(attrs)}
}

func (h *levelFilter) WithGroup(name string) slog.Handler {
	return &levelFilter{min: h.min, next: h.next.WithGroup(name)}
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
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
// Run one Node per process in production. Tests may start several; they
// start one at a time (startMu), and multi-node tests run each node in a
// process of its own (internal/fleet), which is what production does.
type Node struct {
	cfg     Config
	logger  *slog.Logger
	kinds   []Kind
	metrics *metrics

	ready     atomic.Bool
	members   atomic.Pointer[[]string] // addresses in the latest topology
	joined    chan struct{}            // closed when the topology first includes this node
	joinOnce  sync.Once
	evicted   chan struct{} // closed when the topology drops this node while it runs
	evictOnce sync.Once

	// departures holds, per address of a current member, a channel closed
	// when that member leaves: requests in flight to it give up at once
	// (request.go) instead of waiting for their timeout.
	depMu      sync.Mutex
	departures map[string]chan struct{}
	onLeft     []func(id, address string)

	// lifecycle serialises Start's set-up and Stop's hand-over, so Stop never
	// runs while the library cluster is half built.
	lifecycle sync.Mutex

	mu       sync.RWMutex // guards the fields below
	started  bool
	c        *pcluster.Cluster // nil before Start and after Stop
	system   *actor.ActorSystem
	addr     string
	id       string
	dir      *directory // nil without Config.JetStream
	lookup   *identityLookup
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
		cfg:        cfg,
		logger:     logger,
		kinds:      append([]Kind(nil), kinds...),
		metrics:    newMetrics(cfg.Registerer, logger),
		joined:     make(chan struct{}),
		evicted:    make(chan struct{}),
		departures: map[string]chan struct{}{},
		stopping:   make(chan struct{}),
		stopped:    make(chan struct{}),
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
	err := n.setUp(ctx)
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
func (n *Node) setUp(ctx context.Context) error {
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
	var c *pcluster.Cluster
	if err := n.openDirectory(ctx, system, func() *pcluster.Cluster { return c }); err != nil {
		return err
	}
	provider, err := n.provider(ctx)
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
	lookup := newIdentityLookup(props, n.metrics.topologyPassivations)
	ccfg := pcluster.Configure(n.cfg.Name, provider, lookup,
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
	c = pcluster.New(system, ccfg)
	sub := system.EventStream.Subscribe(func(evt any) {
		switch e := evt.(type) {
		case *pcluster.ClusterTopology:
			n.onTopology(system.ID, e)
		case *remote.EndpointTerminatedEvent:
			if n.dir != nil && n.cfg.Provider == ProviderNATS {
				go n.dir.suspect(e.Address)
			}
		}
	})

	// StartMember panics on failure (e.g. the port is taken) and sleeps 1s.
	// It sets gRPC's process-global logger (once, since third_party patch
	// 1); members started in one process still start one at a time.
	startMu.Lock()
	err = safely(c.StartMember)
	startMu.Unlock()
	if err != nil {
		system.EventStream.Unsubscribe(sub)
		_ = safely(func() { c.Shutdown(false) })
		return fmt.Errorf("cluster: start member: %w", err)
	}
	if n.dir != nil && n.cfg.Provider != ProviderNATS {
		// The directory only describes the members here; it starts once
		// the remote address is known.
		n.dir.self.ClusterAddress = system.Address()
		if err := n.dir.start(ctx); err != nil {
			system.EventStream.Unsubscribe(sub)
			_ = safely(func() { c.Shutdown(false) })
			return err
		}
	}

	n.mu.Lock()
	n.c, n.system, n.sub, n.addr, n.id, n.lookup = c, system, sub, system.Address(), system.ID, lookup
	n.mu.Unlock()
	return nil
}

// openDirectory prepares the member directory when JetStream is given.
// cluster returns the library cluster once it exists (the record's
// activation counts read it).
func (n *Node) openDirectory(ctx context.Context, system *actor.ActorSystem, cluster func() *pcluster.Cluster) error {
	if n.cfg.JetStream == nil {
		return nil
	}
	kv, err := openDirectory(ctx, n.cfg.JetStream, n.cfg.Namespace, n.cfg.Name)
	if err != nil {
		return err
	}
	kinds := make([]string, 0, len(n.kinds))
	for _, k := range n.kinds {
		kinds = append(kinds, k.Name)
	}
	n.dir = &directory{
		kv: kv, heartbeat: n.cfg.Heartbeat, ttl: n.cfg.MemberTTL, status: n.cfg.Status, log: n.logger,
		self: MemberInfo{ID: system.ID, Kinds: kinds, JoinedAt: time.Now().UTC()},
		counts: func() map[string]int {
			out := make(map[string]int, len(kinds))
			c := cluster()
			for _, k := range kinds {
				out[k] = 0
				if c == nil {
					continue
				}
				if ak, ok := c.TryGetClusterKind(k); ok {
					out[k] = int(ak.Count())
				}
			}
			return out
		},
	}
	return nil
}

// onTopology tracks whether this node is in the member list, logs each
// member that joins or leaves once, and fails over what was waiting on a
// member that left. The library publishes topology events synchronously
// under its member-list lock, so this must stay cheap and must not call
// back into the cluster.
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
	n.metrics.members.Set(float64(len(t.Members)))
	n.metrics.topologyChanges.Inc()
	stopping := false
	select {
	case <-n.stopping:
		in, stopping = false, true
	default:
	}
	n.ready.Store(in)
	if in {
		n.joinOnce.Do(func() { close(n.joined) })
	} else if !stopping && n.isJoined() {
		n.evictOnce.Do(func() {
			n.logger.Error("cluster: this node was dropped from the membership; it can no longer host or route actors")
			close(n.evicted)
		})
	}
	for _, m := range t.Joined {
		if m.Id != selfID {
			n.logger.Info("cluster: member joined", slog.String("member", m.Id), slog.String("address", m.Address()))
		}
	}
	n.depMu.Lock()
	var left []*pcluster.Member
	for _, m := range t.Left {
		n.logger.Warn("cluster: member left", slog.String("member", m.Id), slog.String("address", m.Address()))
		if ch, ok := n.departures[m.Address()]; ok {
			close(ch)
			delete(n.departures, m.Address())
		}
		left = append(left, m)
	}
	callbacks := n.onLeft
	n.depMu.Unlock()
	for _, m := range left {
		for _, f := range callbacks {
			go f(m.Id, m.Address())
		}
	}
}

func (n *Node) isJoined() bool {
	select {
	case <-n.joined:
		return true
	default:
		return false
	}
}

// departure returns a channel closed when the member at addr leaves the
// topology, or nil when addr is not a current member.
func (n *Node) departure(addr string) <-chan struct{} {
	p := n.members.Load()
	if p == nil || !slices.Contains(*p, addr) {
		return nil
	}
	n.depMu.Lock()
	defer n.depMu.Unlock()
	ch, ok := n.departures[addr]
	if !ok {
		ch = make(chan struct{})
		n.departures[addr] = ch
	}
	return ch
}

// OnMemberLeft registers f to run (on a goroutine of its own) for every
// member that leaves the topology, dead or graceful, once. The node uses
// it to release what the departed member held (its Idempotency-Key
// claims). Register before Start.
func (n *Node) OnMemberLeft(f func(id, address string)) {
	n.depMu.Lock()
	defer n.depMu.Unlock()
	n.onLeft = append(n.onLeft, f)
}

// Evicted is closed when the membership drops this node while it runs
// (its directory record lapsed, e.g. NATS was unreachable for longer than
// MemberTTL). The library never readmits a member it dropped, so the
// process should stop and be restarted.
func (n *Node) Evicted() <-chan struct{} { return n.evicted }

// ID is this member's id in the cluster ("" before Start); a new one at
// every start.
func (n *Node) ID() string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.id
}

// Directory returns the records of the live members, oldest first, as
// the member directory has them (nil without Config.JetStream).
func (n *Node) Directory() []MemberInfo {
	if n.dir == nil {
		return nil
	}
	return n.dir.members()
}

// provider builds the membership provider named in the config.
func (n *Node) provider(ctx context.Context) (pcluster.ClusterProvider, error) {
	switch n.cfg.Provider {
	case ProviderNATS:
		return &natsProvider{dir: n.dir, ctx: ctx}, nil
	case ProviderAutoManaged:
		// The library logs, but does not report, a failure to bind its
		// health endpoint; check the port first so Start can say so.
		ln, err := net.Listen("tcp", net.JoinHostPort(n.cfg.Host, strconv.Itoa(n.cfg.AutoManagedPort)))
		if err != nil {
			return nil, fmt.Errorf("cluster: automanaged port: %w", err)
		}
		_ = ln.Close()
		return automanaged.NewWithConfig(n.cfg.AutoManagedRefresh, n.cfg.AutoManagedPort, n.cfg.Seeds...), nil
	case ProviderLocal:
		return testprovider.NewTestProvider(testprovider.NewInMemAgent()), nil
	}
	return extraProviders[n.cfg.Provider](n.cfg)
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
		dir := n.dir
		go func() {
			defer close(n.stopped)
			if c == nil {
				return
			}
			if dir != nil {
				// Leave the directory first: the others drop this member
				// at once and stop routing to it while it shuts down.
				dir.stop(true)
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
// records below Config.LibraryLogLevel and repeats about one peer.
func (n *Node) libraryLogger() func(*actor.ActorSystem) *slog.Logger {
	base := slog.New(&levelFilter{min: n.cfg.LibraryLogLevel, next: n.logger.Handler(), quiet: &repeats{last: map[string]time.Time{}}}).
		With(slog.String("lib", "protoactor"))
	return func(s *actor.ActorSystem) *slog.Logger {
		return base.With(slog.String("system", s.ID))
	}
}

// levelFilter is a slog.Handler that drops records below min, and the
// library's repeated warnings about one peer (see repeats).
type levelFilter struct {
	min   slog.Leveler
	next  slog.Handler
	quiet *repeats
}

func (h *levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min.Level() && h.next.Enabled(ctx, l)
}

func (h *levelFilter) Handle(ctx context.Context, r slog.Record) error {
	if !h.quiet.first(r) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelFilter{min: h.min, next: h.next.WithAttrs(attrs), quiet: h.quiet}
}

func (h *levelFilter) WithGroup(name string) slog.Handler {
	return &levelFilter{min: h.min, next: h.next.WithGroup(name), quiet: h.quiet}
}

// repeats keeps the library from logging a dead peer every second: its
// endpoint writer, gossip and automanaged health checks each report every
// failed try at a peer. The first record of one message about one peer
// passes; the same again within repeatWindow is dropped. The member that
// left is logged once, by onTopology.
type repeats struct {
	mu   sync.Mutex
	last map[string]time.Time
}

const repeatWindow = time.Minute

// first reports whether r is not a repeat.
func (q *repeats) first(r slog.Record) bool {
	var peer string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "address", "MemberId", "autoManMemberUrl", "member":
			peer = a.Value.String()
			return false
		}
		return true
	})
	if peer == "" || r.Level < slog.LevelWarn {
		return true
	}
	key := r.Message + "\x00" + peer
	q.mu.Lock()
	defer q.mu.Unlock()
	if at, ok := q.last[key]; ok && r.Time.Sub(at) < repeatWindow {
		return false
	}
	if len(q.last) > 1024 {
		for k, at := range q.last {
			if r.Time.Sub(at) >= repeatWindow {
				delete(q.last, k)
			}
		}
	}
	q.last[key] = r.Time
	return true
}

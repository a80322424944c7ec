package cluster

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Membership providers accepted in Config.Provider.
const (
	// ProviderLocal is the library's in-memory test provider: a
	// single-process cluster, for development and tests. Each Node gets its
	// own in-memory agent, so two "local" nodes never see each other.
	ProviderLocal = "local"
	// ProviderAutoManaged is the library's automanaged provider: every node
	// serves GET /_health on AutoManagedPort and polls the Seeds list. It
	// suits a few fixed hosts (docker-compose, a small VM fleet).
	ProviderAutoManaged = "automanaged"
	// ProviderNATS keeps the membership in a JetStream key-value bucket of
	// the node's NATS namespace (directory.go): every node started with the
	// same NATS server, namespace and cluster name joins, a stopped one is
	// gone at once and a dead one within MemberTTL. Nothing is listed
	// anywhere. Needs JetStream. The default of `outrider serve`.
	ProviderNATS = "nats"
	// ProviderKubernetes is Proto.Actor's Kubernetes provider (pods labelled
	// by cluster name, found through the API server); compiled in with the
	// build tag "kubernetes" (provider_kubernetes.go), which the container
	// image uses, so that other builds do not link client-go.
	ProviderKubernetes = "kubernetes"
)

// extraProviders are providers compiled in by build tags, by name.
var extraProviders = map[string]func(Config) (pcluster.ClusterProvider, error){}

// Config configures a Node. The zero value of every field means "use the
// default" documented on the field; Node.Config reports the values in use.
type Config struct {
	// Name is the cluster name; nodes only join members with the same name.
	// Default "outrider".
	Name string
	// Host is the interface the actor remote (gRPC) binds to.
	// Default "127.0.0.1" so a developer machine never exposes it by accident.
	Host string
	// Port is the remote port; 0 picks a free port (see Node.Addr).
	Port int
	// AdvertisedHost is the "host:port" other members dial to reach this node,
	// when it differs from the bound address (containers, NAT). Optional.
	AdvertisedHost string
	// Provider is ProviderLocal (default), ProviderNATS, ProviderAutoManaged
	// or ProviderKubernetes.
	Provider string
	// JetStream, when set, publishes this member's record to the member
	// directory of Namespace (see MemberInfo), which GET /v1/cluster reads;
	// ProviderNATS requires it, as its membership is that directory.
	JetStream jetstream.JetStream
	// Namespace is the node's NATS subject prefix; members of one cluster
	// share it. Its directory bucket is named after it and Name.
	Namespace string
	// Heartbeat is how often a member renews its directory record.
	// Default 1s.
	Heartbeat time.Duration
	// MemberTTL is how long a record may go unrenewed before the member is
	// taken for dead (ProviderNATS: it leaves the membership). Default 3s:
	// three missed heartbeats, so one slow renewal never evicts a member.
	MemberTTL time.Duration
	// Status, if set, adds the node's HTTP address, roles and sockets to
	// its directory record; it is called once per heartbeat.
	Status func() MemberStatus
	// AutoManagedPort is the HTTP port of the automanaged health endpoint,
	// bound on Host (third_party/protoactor-go patch 7). Required with ProviderAutoManaged:
	// peers find each other through it, so it cannot be picked at random.
	AutoManagedPort int
	// Seeds lists the automanaged health endpoints ("host:port", this node's
	// own included) polled to build the member list.
	Seeds []string
	// AutoManagedRefresh is how often the automanaged provider polls Seeds.
	// Default 1s: a joining or dead node is noticed within about that long.
	AutoManagedRefresh time.Duration
	// RequestTimeout bounds one delivery attempt (activation + reply).
	// Default 5s. The caller's context deadline, when earlier, wins.
	RequestTimeout time.Duration
	// MaxAttempts is how many delivery attempts a request makes before it
	// fails with ErrUnavailable. Default 5.
	MaxAttempts int
	// BackoffBase is the smallest pause between attempts. Default 20ms.
	BackoffBase time.Duration
	// BackoffMax caps the pause between attempts. Default 1s, so a request
	// notices a healed cluster quickly even late in its retries.
	BackoffMax time.Duration
	// IdleTimeout is how long an actor may sit idle before it passivates.
	// Default 2 minutes. The actor adapters read it (Node.Config) and set
	// their own idle passivation; this package does not enforce it.
	IdleTimeout time.Duration
	// LibraryLogLevel is the least severe Proto.Actor log record passed to
	// the node's logger. Default slog.LevelWarn: the library logs every
	// topology change and activation at Info.
	LibraryLogLevel slog.Leveler
	// Registerer receives the node's Prometheus metrics; nil registers none
	// (the metrics are still counted and visible through Node.Collectors).
	Registerer prometheus.Registerer
}

// Defaults, exported so callers and docs can refer to them.
const (
	DefaultName               = "outrider"
	DefaultHost               = "127.0.0.1"
	DefaultRequestTimeout     = 5 * time.Second
	DefaultMaxAttempts        = 5
	DefaultBackoffBase        = 20 * time.Millisecond
	DefaultBackoffMax         = time.Second
	DefaultIdleTimeout        = 2 * time.Minute
	DefaultAutoManagedRefresh = time.Second
	DefaultAutoManagedPort    = 6330
	DefaultHeartbeat          = time.Second
	DefaultMemberTTL          = 3 * time.Second
)

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if c.Provider == "" {
		c.Provider = ProviderLocal
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.MemberTTL <= 0 {
		c.MemberTTL = DefaultMemberTTL
	}
	if c.MemberTTL < 2*c.Heartbeat {
		c.MemberTTL = 2 * c.Heartbeat
	}
	if c.Status == nil {
		c.Status = func() MemberStatus { return MemberStatus{} }
	}
	if c.AutoManagedRefresh <= 0 {
		c.AutoManagedRefresh = DefaultAutoManagedRefresh
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BackoffMax < c.BackoffBase {
		c.BackoffMax = c.BackoffBase
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.LibraryLogLevel == nil {
		c.LibraryLogLevel = slog.LevelWarn
	}
	c.Seeds = append([]string(nil), c.Seeds...)
	return c
}

// validate reports settings Start cannot work with.
func (c Config) validate() error {
	switch c.Provider {
	case ProviderLocal:
	case ProviderNATS:
		if c.JetStream == nil {
			return fmt.Errorf("cluster: provider %q needs JetStream", c.Provider)
		}
	case ProviderAutoManaged:
		if c.AutoManagedPort <= 0 {
			return fmt.Errorf("cluster: provider %q needs AutoManagedPort", c.Provider)
		}
		if len(c.Seeds) == 0 {
			return fmt.Errorf("cluster: provider %q needs Seeds", c.Provider)
		}
	default:
		if _, ok := extraProviders[c.Provider]; ok {
			break
		}
		if c.Provider == ProviderKubernetes {
			return fmt.Errorf("cluster: provider %q is not compiled into this binary (build with -tags kubernetes)", c.Provider)
		}
		return fmt.Errorf("cluster: unknown provider %q", c.Provider)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("cluster: invalid port %d", c.Port)
	}
	return nil
}

// Kind is an actor kind this node hosts: requests for Name are activated
// from Props on whichever member the identity hashes to. Every member that
// should host a kind must register it with the same Name.
type Kind struct {
	// Name is the kind, e.g. KindOrder.
	Name string
	// Props builds one activation. The cluster adds its own middleware.
	Props *actor.Props
}

package bus

import (
	"errors"
	"fmt"
	"time"

	"github.com/outrider/outrider/wire"
)

// RelayConfig configures a Relay. The zero value takes every default.
type RelayConfig struct {
	// Linger is how long the relay waits after a wake-up before reading,
	// so that a burst of commits travels in one batch: at a thousand
	// commits a second it turns a thousand reads and deletes into a couple
	// of hundred. Default 5 ms, a tenth of the commit→frame latency budget;
	// negative disables it.
	Linger time.Duration
	// Namespace prefixes every subject the relay publishes and the stream
	// captures (e.g. "staging." gives "staging.outrider.order.<id>"), so
	// several deployments — or test runs — can share one NATS server.
	// Subscribers must use the same namespace. Default "" (none).
	Namespace string
	// Stream is the JetStream stream the relay publishes into, created or
	// updated on Start. Default "OUTRIDER_EVENTS".
	Stream string
	// Subjects the stream captures. Default DefaultSubjects, order events
	// ("outrider.order.<id>") and drivers' jobs ("outrider.job.<driver>"):
	// every outbox subject must match one, or its publish fails with no responders and the relay retries
	// forever; and nothing else of the namespace may, or the stream stores
	// it: live location fixes ("outrider.location.…") and gateway inboxes
	// ("outrider.inbox.…") travel on core NATS, one stored message per fix
	// otherwise.
	Subjects []string
	// Replicas of the stream (1 for a single NATS server). Default 1.
	Replicas int
	// MaxAge is how long the stream keeps a message. Default 7 days: a
	// worker or a resuming consumer may be that far behind; older history
	// is read from the journal, not the bus.
	MaxAge time.Duration
	// Duplicates is the stream's de-duplication window: a message whose
	// Nats-Msg-Id was stored within it is acknowledged and dropped.
	// Default 2 minutes. It must exceed the longest time between a
	// relay's first publish of a message and any re-publish of it — a
	// crashed relay's successor retrying, a deposed leader finishing its
	// batch — or the re-publish is stored twice, out of order. The relay
	// bounds that time by AckTimeout and LeaderRetry, so NewRelay's
	// checks require Duplicates ≥ 4 × (AckTimeout + LeaderRetry).
	Duplicates time.Duration

	// BatchSize is how many outbox rows one read takes, and so how many
	// rows one MarkOutboxPublished marks. Default 256.
	BatchSize int
	// MaxInFlight bounds the publishes awaiting their ack. Default 64:
	// enough to hide the round trip to NATS, small enough that a failure
	// re-publishes little.
	MaxInFlight int
	// AckTimeout is how long the relay waits for one publish's ack before
	// it gives up on the batch and retries it. Default 5 seconds. The
	// relay then forgets the publish; give the JetStream it is handed
	// jetstream.WithPublishAsyncTimeout (≈ AckTimeout) so the client
	// forgets it too rather than keep it among its pending acks.
	AckTimeout time.Duration
	// PollInterval is how often an idle leader looks for new rows: the
	// latency floor when nobody calls Notify. Default 50ms.
	PollInterval time.Duration
	// LeaderRetry is how often a node that does not lead tries to become
	// leader, and so the longest a leaderless cluster stays without a
	// relay after the leader stops. Default 1 second.
	LeaderRetry time.Duration
	// ErrorBackoff is the wait after a failed batch before the next try.
	// Default 250ms.
	ErrorBackoff time.Duration

	// Now is the clock (publish lag, published_at). Default time.Now.
	Now func() time.Time
}

// Defaults of RelayConfig.
const (
	DefaultStream       = "OUTRIDER_EVENTS"
	DefaultReplicas     = 1
	DefaultLinger       = 5 * time.Millisecond
	DefaultMaxAge       = 7 * 24 * time.Hour
	DefaultDuplicates   = 2 * time.Minute
	DefaultBatchSize    = 256
	DefaultMaxInFlight  = 64
	DefaultAckTimeout   = 5 * time.Second
	DefaultPollInterval = 50 * time.Millisecond
	DefaultLeaderRetry  = time.Second
	DefaultErrorBackoff = 250 * time.Millisecond
)

// DefaultSubjects are RelayConfig.Subjects' default, before the namespace:
// the order events and the drivers' jobs, every subject the outbox holds.
var DefaultSubjects = []string{wire.OrderEvents, wire.JobEvents}

// withDefaults fills the zero fields of c and checks the result.
func (c RelayConfig) withDefaults() (RelayConfig, error) {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if len(c.Subjects) == 0 {
		for _, sub := range DefaultSubjects {
			c.Subjects = append(c.Subjects, wire.Namespaced(c.Namespace, sub))
		}
	}
	c.Replicas = orDefault(c.Replicas, DefaultReplicas)
	c.MaxAge = orDefault(c.MaxAge, DefaultMaxAge)
	c.Duplicates = orDefault(c.Duplicates, DefaultDuplicates)
	c.BatchSize = orDefault(c.BatchSize, DefaultBatchSize)
	c.MaxInFlight = orDefault(c.MaxInFlight, DefaultMaxInFlight)
	c.AckTimeout = orDefault(c.AckTimeout, DefaultAckTimeout)
	c.PollInterval = orDefault(c.PollInterval, DefaultPollInterval)
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	c.LeaderRetry = orDefault(c.LeaderRetry, DefaultLeaderRetry)
	c.ErrorBackoff = orDefault(c.ErrorBackoff, DefaultErrorBackoff)
	if c.Now == nil {
		c.Now = time.Now
	}
	var errs []error
	if c.Replicas < 1 || c.BatchSize < 1 || c.MaxInFlight < 1 {
		errs = append(errs, errors.New("Replicas, BatchSize and MaxInFlight must be positive"))
	}
	if min(c.MaxAge, c.Duplicates, c.AckTimeout, c.PollInterval, c.LeaderRetry, c.ErrorBackoff) <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if need := 4 * (c.AckTimeout + c.LeaderRetry); c.Duplicates < need {
		errs = append(errs, fmt.Errorf("Duplicates %v is shorter than 4 × (AckTimeout + LeaderRetry) = %v", c.Duplicates, need))
	}
	if c.Duplicates > c.MaxAge {
		errs = append(errs, fmt.Errorf("Duplicates %v exceeds MaxAge %v", c.Duplicates, c.MaxAge))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("bus: relay config: %w", err)
	}
	return c, nil
}

// Defaults of LocationsConfig.
const (
	DefaultFlushInterval     = time.Second
	DefaultLocationBatchSize = 2000
	DefaultMaxBuffered       = 200_000
	DefaultLastEvery         = 5 * time.Second
)

// defaults fills the zero (or negative) fields of c.
func (c *LocationsConfig) defaults() {
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultLocationBatchSize
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = DefaultMaxBuffered
	}
	if c.LastEvery <= 0 {
		c.LastEvery = DefaultLastEvery
	}
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

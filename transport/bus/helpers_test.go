package bus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/persistence/postgres"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
	"github.com/outrider/outrider/transport/bus"
	"github.com/outrider/outrider/wire"
)

// Relays, leaders and NATS connections are stopped by each test's cleanup.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNATSURLEnv names the variable with the NATS server tests use (with
// JetStream); unset, the CI machine's server. A missing server fails.
const (
	testNATSURLEnv     = "OUTRIDER_TEST_NATS_URL"
	defaultTestNATSURL = "nats://127.0.0.1:4222"
)

// leaderName is the leadership every relay in the tests contends for.
const leaderName = "outbox-relay"

// bundle is one test's world: a Postgres schema, a JetStream stream of
// its own and a subject prefix only that stream captures.
type bundle struct {
	store  *postgres.Store
	js     jetstream.JetStream // the test's own connection, for consuming
	stream string
	prefix string // "t<hex>.", so subjects are "t<hex>.order.<id>"
}

func setup(t *testing.T) *bundle {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	tag := hex.EncodeToString(b[:])
	bd := &bundle{
		store:  pgtest.Open(t),
		stream: "T_" + strings.ToUpper(tag),
		prefix: "t" + tag + ".",
	}
	bd.js = connect(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := bd.js.DeleteStream(ctx, bd.stream)
		if err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("delete stream %s: %v", bd.stream, err)
		}
	})
	return bd
}

// connect opens a NATS connection of its own (a node's), closed on cleanup.
func connect(t *testing.T) jetstream.JetStream {
	t.Helper()
	url := natsURL()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	require.NoError(t, err, "NATS with JetStream must listen at %s (%s)", url, testNATSURLEnv)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// natsURL is the test NATS server.
func natsURL() string {
	if url := os.Getenv(testNATSURLEnv); url != "" {
		return url
	}
	return defaultTestNATSURL
}

// config is a relay configuration for this bundle's stream, with a short
// LeaderRetry so failover tests are quick.
func (b *bundle) config() bus.RelayConfig {
	return bus.RelayConfig{
		Stream:      b.stream,
		Subjects:    []string{b.prefix + ">"},
		MaxAge:      time.Hour,
		LeaderRetry: 100 * time.Millisecond,
	}
}

// node is one running relay with what a test inspects of it.
type node struct {
	relay *bus.Relay
	reg   *prometheus.Registry
}

// startRelay starts a relay on its own NATS connection, reading store
// (default the bundle's) and leading through leader (default a Postgres
// leader of the bundle's schema). Cleanup stops it.
func (b *bundle) startRelay(t *testing.T, cfg bus.RelayConfig, store persistence.Outbox, leader bus.Leader) *node {
	t.Helper()
	if store == nil {
		store = b.store
	}
	if leader == nil {
		leader = b.store.Leader(leaderName)
	}
	reg := prometheus.NewRegistry()
	r := bus.NewRelay(cfg, store, connect(t), leader, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, r.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, r.Stop(ctx))
	})
	return &node{relay: r, reg: reg}
}

// commit writes events seqs of order id in one commit, each with its
// journal entry and outbox message, the way actors/order.Effects does.
func (b *bundle) commit(t *testing.T, id string, at time.Time, seqs ...int64) {
	t.Helper()
	require.NoError(t, b.tryCommit(t.Context(), id, at, seqs...))
}

// tryCommit is commit for goroutines other than the test's.
func (b *bundle) tryCommit(ctx context.Context, id string, at time.Time, seqs ...int64) error {
	var c actors.Commit
	for _, seq := range seqs {
		typ := "order.status_changed"
		if seq == 1 {
			typ = "order.created"
		}
		eid := order.EventID(id, seq)
		body, err := json.Marshal(order.Published{ID: eid, Type: typ, OrderID: id, Seq: seq, At: wire.Timestamp(at)})
		if err != nil {
			return err
		}
		c.Events = append(c.Events, actors.Event{Kind: actors.KindOrder, EntityID: id, Seq: seq, Type: typ,
			Payload: []byte(eid), CommandID: "cmd-" + eid, At: at})
		c.Outbox = append(c.Outbox, actors.OutboxMessage{ID: eid, Subject: b.prefix + "order." + id, Payload: body, At: at})
	}
	return b.store.Commit(ctx, c)
}

// received is one message a consumer got.
type received struct {
	MsgID   string
	Subject string
	Seq     int64 // from the payload
}

// watcher is an ordered consumer of the whole stream, from its start.
type watcher struct {
	mu  sync.Mutex
	got []received
}

func (b *bundle) watch(t *testing.T) *watcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// The stream appears when the first relay starts.
	eventually(t, 10*time.Second, func() bool {
		_, err := b.js.Stream(ctx, b.stream)
		return err == nil
	}, "stream %s never created", b.stream)
	cons, err := b.js.OrderedConsumer(ctx, b.stream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	w := &watcher{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var p order.Published
		if err := json.Unmarshal(m.Data(), &p); err != nil {
			t.Errorf("bad payload %q: %v", m.Data(), err)
		}
		w.mu.Lock()
		w.got = append(w.got, received{MsgID: m.Headers().Get(jetstream.MsgIDHeader), Subject: m.Subject(), Seq: p.Seq})
		w.mu.Unlock()
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
	return w
}

func (w *watcher) messages() []received {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]received(nil), w.got...)
}

// waitFor waits until the watcher has n messages and every outbox row is
// marked published (so no relay has more to send), checks that the stream
// stores exactly n (no second copy) and returns what the watcher got.
func (b *bundle) waitFor(t *testing.T, w *watcher, n int) []received {
	t.Helper()
	eventually(t, 15*time.Second, func() bool { return len(w.messages()) >= n }, "want %d messages", n)
	b.requireAllMarked(t)
	require.EqualValues(t, n, b.streamMsgs(t), "the stream stores each message exactly once")
	got := w.messages()
	require.Len(t, got, n, "the watcher sees each message exactly once")
	return got
}

// requireOncePerOrder checks that got holds each event of each order once,
// with the right Nats-Msg-Id, and per order in sequence order 1..n.
func (b *bundle) requireOncePerOrder(t *testing.T, got []received, perOrder map[string]int64) {
	t.Helper()
	next := map[string]int64{}
	for _, m := range got {
		id := strings.TrimPrefix(m.Subject, b.prefix+"order.")
		next[id]++
		require.Equal(t, next[id], m.Seq, "order %s out of order: %v", id, got)
		require.Equal(t, order.EventID(id, m.Seq), m.MsgID)
	}
	require.Equal(t, perOrder, next)
}

// requireAllMarked waits until no outbox row is left unpublished.
func (b *bundle) requireAllMarked(t *testing.T) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool {
		msgs, err := b.store.UnpublishedOutbox(t.Context(), 1)
		require.NoError(t, err)
		return len(msgs) == 0
	}, "outbox rows left unpublished")
}

// streamMsgs is how many messages the stream stores.
func (b *bundle) streamMsgs(t *testing.T) uint64 {
	t.Helper()
	s, err := b.js.Stream(t.Context(), b.stream)
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	return info.State.Msgs
}

func eventually(t *testing.T, d time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, cond, d, 10*time.Millisecond, msgAndArgs...)
}

// metric returns the family name from n's registry (nil if absent).
func (n *node) metric(t *testing.T, name string) *dto.MetricFamily {
	t.Helper()
	fams, err := n.reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// value is the value of a counter or gauge without labels (0 if absent).
func (n *node) value(t *testing.T, name string) float64 {
	f := n.metric(t, name)
	if f == nil || len(f.Metric) == 0 {
		return 0
	}
	m := f.Metric[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// alwaysLeader grants leadership to everyone: relays using it run
// concurrently, with no exclusion at all.
type alwaysLeader struct{}

func (alwaysLeader) TryLead(context.Context) (<-chan struct{}, func(), bool, error) {
	return make(chan struct{}), func() {}, true, nil
}

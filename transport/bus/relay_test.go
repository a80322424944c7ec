package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/transport/bus"
)

// A backlog larger than a batch is published once, each order in sequence
// order — including events 9 and 10 committed together, which the store
// returns as "…:10" before "…:9" — and every row is marked published.
func TestRelay_PublishesBacklogOnceInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const orders, events = 4, 12
	base := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	want := map[string]int64{}
	for s := int64(1); s <= events; s++ {
		for o := range orders {
			id := fmt.Sprintf("o%d", o)
			at := base.Add(time.Duration(s)*10*time.Millisecond + time.Duration(o)*time.Millisecond)
			switch s {
			case 9:
				b.commit(t, id, at, 9, 10) // one command, two events, one instant
			case 10:
			default:
				b.commit(t, id, at, s)
			}
			want[id] = events
		}
	}
	cfg := b.config()
	cfg.BatchSize = 16 // three batches; the 9/10 pairs never straddle two
	n := b.startRelay(t, cfg, nil, nil)
	w := b.watch(t)

	got := b.waitFor(t, w, orders*events)
	b.requireOncePerOrder(t, got, want)

	require.Equal(t, float64(orders*events), n.value(t, "outrider_outbox_published_total"))
	require.Zero(t, n.value(t, "outrider_outbox_publish_duplicates_total"))
	require.Equal(t, 1.0, n.value(t, "outrider_outbox_leader"))
	lag := n.metric(t, "outrider_outbox_publish_lag_seconds")
	require.NotNil(t, lag)
	h := lag.Metric[0].GetHistogram()
	require.EqualValues(t, orders*events, h.GetSampleCount())
	// Every event is about a minute old when published.
	require.GreaterOrEqual(t, h.GetSampleSum()/float64(h.GetSampleCount()), 59.0)
}

// With polling effectively off, Notify alone gets each commit published.
func TestRelay_NotifyWakesTheLeader(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := b.config()
	cfg.PollInterval = time.Hour
	n := b.startRelay(t, cfg, nil, nil)
	w := b.watch(t)
	eventually(t, 5*time.Second, func() bool { return n.value(t, "outrider_outbox_leader") == 1 })

	for s := int64(1); s <= 10; s++ {
		b.commit(t, "o1", time.Now(), s)
		n.relay.Notify()
		n.relay.Notify() // coalesces; never blocks
		eventually(t, 5*time.Second, func() bool { return len(w.messages()) == int(s) }, "event %d not published after Notify", s)
	}
	b.requireOncePerOrder(t, b.waitFor(t, w, 10), map[string]int64{"o1": 10})
}

// failingMark is a store whose MarkOutboxPublished fails while fails > 0
// (forever when fails is negative): the relay crashed between the
// publish and the mark.
type failingMark struct {
	persistence.Outbox
	fails atomic.Int64
	calls atomic.Int64
}

func (f *failingMark) MarkOutboxPublished(ctx context.Context, ids []string, at time.Time) error {
	f.calls.Add(1)
	if f.fails.Load() < 0 || f.fails.Add(-1) >= 0 {
		return errors.New("simulated crash before marking")
	}
	return f.Outbox.MarkOutboxPublished(ctx, ids, at)
}

func TestRelay_RepublishAfterCrashIsDeduplicated(t *testing.T) {
	t.Parallel()
	const orders, events = 3, 4
	want := map[string]int64{}
	for o := range orders {
		want[fmt.Sprintf("o%d", o)] = events
	}
	commitAll := func(t *testing.T, b *bundle) {
		for s := int64(1); s <= events; s++ {
			for o := range orders {
				id := fmt.Sprintf("o%d", o)
				b.commit(t, id, time.Now(), s)
			}
		}
	}

	t.Run("mark fails once, the relay retries", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		commitAll(t, b)
		store := &failingMark{Outbox: b.store}
		store.fails.Store(1)
		n := b.startRelay(t, b.config(), store, nil)
		w := b.watch(t)

		b.requireOncePerOrder(t, b.waitFor(t, w, orders*events), want)
		require.GreaterOrEqual(t, store.calls.Load(), int64(2))
		// The whole first batch went out twice; JetStream kept one copy.
		require.Equal(t, float64(orders*events), n.value(t, "outrider_outbox_published_total"))
		require.Equal(t, float64(orders*events), n.value(t, "outrider_outbox_publish_duplicates_total"))
	})

	t.Run("relay dies before marking, its successor re-publishes", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		commitAll(t, b)
		crashing := &failingMark{Outbox: b.store}
		crashing.fails.Store(-1)
		first := b.startRelay(t, b.config(), crashing, nil)
		w := b.watch(t)
		eventually(t, 10*time.Second, func() bool { return len(w.messages()) == orders*events })
		require.NoError(t, first.relay.Stop(t.Context()))
		left, err := b.store.UnpublishedOutbox(t.Context(), 1000)
		require.NoError(t, err)
		require.Len(t, left, orders*events, "nothing was marked")

		second := b.startRelay(t, b.config(), nil, nil)
		b.requireOncePerOrder(t, b.waitFor(t, w, orders*events), want)
		require.Zero(t, second.value(t, "outrider_outbox_published_total"))
		require.Equal(t, float64(orders*events), second.value(t, "outrider_outbox_publish_duplicates_total"))
	})
}

// Two relays on one store, with commits arriving meanwhile, produce one
// copy of each event, each order in sequence order: with the Postgres
// leadership one of them publishes at a time; without any exclusion at
// all, per-subject publishing and de-duplication still keep the order.
func TestRelay_ConcurrentRelaysProduceOneOrderedCopy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		leader    func(b *bundle) bus.Leader
		oneLeader bool
	}{
		{"postgres leadership", func(b *bundle) bus.Leader { return b.store.Leader(leaderName) }, true},
		{"no exclusion", func(*bundle) bus.Leader { return alwaysLeader{} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			cfg := b.config()
			cfg.BatchSize = 8
			cfg.PollInterval = 5 * time.Millisecond
			n1 := b.startRelay(t, cfg, nil, tc.leader(b))
			n2 := b.startRelay(t, cfg, nil, tc.leader(b))
			w := b.watch(t)

			const orders, events = 6, 15
			var wg sync.WaitGroup
			for o := range orders {
				id := fmt.Sprintf("o%d", o)
				wg.Go(func() { // an order actor: one event after another
					for s := int64(1); s <= events; s++ {
						if err := b.tryCommit(t.Context(), id, time.Now(), s); err != nil {
							t.Error(err)
							return
						}
						n1.relay.Notify()
						n2.relay.Notify()
					}
				})
			}
			wg.Wait()
			want := map[string]int64{}
			for o := range orders {
				want[fmt.Sprintf("o%d", o)] = events
			}
			b.requireOncePerOrder(t, b.waitFor(t, w, orders*events), want)
			published := n1.value(t, "outrider_outbox_published_total") + n2.value(t, "outrider_outbox_published_total")
			require.Equal(t, float64(orders*events), published, "first copies")
			if tc.oneLeader {
				require.Equal(t, 1.0, n1.value(t, "outrider_outbox_leader")+n2.value(t, "outrider_outbox_leader"))
			}
		})
	}
}

// When the leader stops, the other relay takes over within its
// LeaderRetry and carries on where the first left off.
func TestRelay_FailsOverWhenLeaderStops(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.startRelay(t, b.config(), nil, nil)
	eventually(t, 5*time.Second, func() bool { return first.value(t, "outrider_outbox_leader") == 1 })
	second := b.startRelay(t, b.config(), nil, nil)
	w := b.watch(t)

	for s := int64(1); s <= 5; s++ {
		b.commit(t, "o1", time.Now(), s)
	}
	eventually(t, 5*time.Second, func() bool { return len(w.messages()) == 5 })
	require.Zero(t, second.value(t, "outrider_outbox_leader"), "only one relay leads")
	require.Zero(t, second.value(t, "outrider_outbox_published_total"))

	require.NoError(t, first.relay.Stop(t.Context()))
	require.Zero(t, first.value(t, "outrider_outbox_leader"))
	eventually(t, 3*time.Second, func() bool { return second.value(t, "outrider_outbox_leader") == 1 },
		"the second relay did not take over")

	for s := int64(6); s <= 10; s++ {
		b.commit(t, "o1", time.Now(), s)
	}
	b.requireOncePerOrder(t, b.waitFor(t, w, 10), map[string]int64{"o1": 10})
	require.Equal(t, 5.0, second.value(t, "outrider_outbox_published_total"))
}

// A leader whose Postgres session dies stops leading; leadership is
// taken again (by either relay) and nothing is lost or doubled.
func TestRelay_LeaderLosesItsConnection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.startRelay(t, b.config(), nil, nil)
	eventually(t, 5*time.Second, func() bool { return first.value(t, "outrider_outbox_leader") == 1 })
	second := b.startRelay(t, b.config(), nil, nil)
	w := b.watch(t)
	for s := int64(1); s <= 5; s++ {
		b.commit(t, "o1", time.Now(), s)
	}
	eventually(t, 5*time.Second, func() bool { return len(w.messages()) == 5 })

	terminateLeader(t, b)
	eventually(t, 5*time.Second, func() bool { return first.value(t, "outrider_outbox_leader") == 0 },
		"the leader did not notice its lost connection")
	eventually(t, 5*time.Second, func() bool {
		return first.value(t, "outrider_outbox_leader")+second.value(t, "outrider_outbox_leader") == 1
	}, "nobody took the leadership again")

	for s := int64(6); s <= 10; s++ {
		b.commit(t, "o1", time.Now(), s)
	}
	b.requireOncePerOrder(t, b.waitFor(t, w, 10), map[string]int64{"o1": 10})
}

func TestRelay_StartRejectsAnUnsafeConfig(t *testing.T) {
	t.Parallel()
	r := bus.NewRelay(bus.RelayConfig{Duplicates: time.Second}, nil, nil, alwaysLeader{}, nil, nil)
	err := r.Start(t.Context())
	require.ErrorContains(t, err, "Duplicates")
	require.NoError(t, r.Stop(t.Context()))
}

package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/persistence/blob/local"
	"github.com/outrider/outrider/persistence/sqlite"
	"github.com/outrider/outrider/persistence/sqlite/sqlitetest"
	"github.com/outrider/outrider/wire"
	"github.com/outrider/outrider/worker"
	"github.com/outrider/outrider/worker/webhook"
)

func natsURL() string {
	if u := os.Getenv("OUTRIDER_TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// rig is a worker on a real NATS (its own namespace and streams) and a
// real (SQLite) store.
type rig struct {
	js     jetstream.JetStream
	store  *sqlite.Store
	w      *worker.Worker
	stream string
	ns     string
}

func newRig(t *testing.T, cfg worker.Config) *rig {
	return newRigWith(t, cfg, nil)
}

func newRigWith(t *testing.T, cfg worker.Config, wrap func(blob.Store) blob.Store) *rig {
	t.Helper()
	nc, err := nats.Connect(natsURL())
	require.NoError(t, err, "NATS with JetStream must run on %s", natsURL())
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	r := &rig{js: js, store: sqlitetest.Open(t), stream: "TW_" + strings.ToUpper(id), ns: "w" + id + "."}
	_, err = js.CreateStream(t.Context(), jetstream.StreamConfig{Name: r.stream, Subjects: []string{r.ns + "outrider.>"}, MaxAge: time.Hour})
	require.NoError(t, err)
	var blobs blob.Store
	blobs, err = local.New(t.TempDir(), "http://localhost:1", []byte(strings.Repeat("k", 32)), local.Options{})
	require.NoError(t, err)
	if wrap != nil {
		blobs = wrap(blobs)
	}
	cfg.Namespace, cfg.EventsStream = r.ns, r.stream
	r.w, err = worker.New(cfg, worker.Deps{JS: js, Store: r.store, Blobs: blobs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, r.w.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, r.w.Stop(ctx))
		webhooks, dlq := r.w.Streams()
		for _, s := range []string{r.stream, webhooks, dlq} {
			_ = js.DeleteStream(ctx, s)
		}
	})
	return r
}

func (r *rig) publish(t *testing.T, orderID string, data []byte) {
	t.Helper()
	_, err := r.js.Publish(t.Context(), r.ns+order.Subject(orderID), data)
	require.NoError(t, err)
}

// proofAdded records a proof of orderID at seq under key and publishes
// its order.proof_added event (the order delivered, for customer).
func (r *rig) proofAdded(t *testing.T, orderID string, seq int64, key, customer string) {
	t.Helper()
	at := time.Now().UTC().Truncate(time.Millisecond)
	require.NoError(t, r.store.Commit(t.Context(), actors.Commit{Proofs: []actors.ProofRow{{
		OrderID: orderID, Seq: seq, Key: key, ContentType: "image/png", Size: 10, ByUserID: "d1", At: at,
	}}}))
	ev, err := json.Marshal(order.Published{ID: order.EventID(orderID, seq), Type: "order.proof_added", OrderID: orderID, Seq: seq,
		At: wire.Timestamp(at), Order: wire.Order{ID: orderID, CustomerID: customer, Status: "delivered"}})
	require.NoError(t, err)
	r.publish(t, orderID, ev)
}

// deadLetters returns the dead-letter stream's messages.
func (r *rig) deadLetters(t *testing.T) []jetstream.RawStreamMsg {
	_, dlqName := r.w.Streams()
	s, err := r.js.Stream(t.Context(), dlqName)
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	var out []jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		require.NoError(t, err)
		out = append(out, *m)
	}
	return out
}

func (r *rig) settled(c *assert.CollectT, t *testing.T, consumers ...string) {
	for _, name := range consumers {
		cons, err := r.js.Consumer(t.Context(), r.stream, r.w.Durable(name))
		if !assert.NoError(c, err) {
			continue
		}
		info, err := cons.Info(t.Context())
		if assert.NoError(c, err) {
			assert.Zero(c, info.NumAckPending, name)
			assert.Zero(c, info.NumPending, name)
		}
	}
}

// TestPoisonEventIsDeadLettered: an event no handler can read goes to the
// dead-letter stream at once, with its error, and is acked.
func TestPoisonEventIsDeadLettered(t *testing.T) {
	r := newRig(t, worker.Config{RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	r.publish(t, "ord_poison", []byte("{not json"))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, r.deadLetters(t), 3, "one per consumer of order events")
		r.settled(c, t, "notifications", "webhook-fanout", "thumbnails")
	}, 10*time.Second, 50*time.Millisecond)
	for _, m := range r.deadLetters(t) {
		require.Equal(t, "{not json", string(m.Data))
		require.Contains(t, m.Header.Get("Outrider-Dead-Error"), "decode event")
		require.Equal(t, "1", m.Header.Get("Outrider-Dead-Attempts"))
	}
}

// TestFailingJobIsRetriedThenDeadLettered: a proof whose photo is missing
// fails its thumbnail MaxDeliver times, with back-off, then goes to the
// dead-letter stream; other consumers are unaffected.
func TestFailingJobIsRetriedThenDeadLettered(t *testing.T) {
	r := newRig(t, worker.Config{MaxDeliver: 3, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	r.proofAdded(t, "ord_1", 5, "proofs/ord_1/missing.png", "c1")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		dl := r.deadLetters(t)
		if assert.Len(c, dl, 1) {
			assert.Equal(c, "thumbnails", dl[0].Header.Get("Outrider-Dead-Consumer"))
			assert.Equal(c, "3", dl[0].Header.Get("Outrider-Dead-Attempts"))
			assert.Contains(c, dl[0].Header.Get("Outrider-Dead-Error"), "not found")
		}
		r.settled(c, t, "notifications", "webhook-fanout", "thumbnails")
	}, 10*time.Second, 50*time.Millisecond)
	// The customer was still told.
	ns, _, err := r.store.ListNotifications(t.Context(), persistenceFilter("c1"))
	require.NoError(t, err)
	require.Len(t, ns, 1)
	require.Equal(t, "order.proof_added", ns[0].Type)
}

func persistenceFilter(user string) persistence.NotificationFilter {
	return persistence.NotificationFilter{UserID: user, Limit: 10}
}

// hangingBlobs never answers Open until the caller gives up.
type hangingBlobs struct{ blob.Store }

func (hangingBlobs) Open(ctx context.Context, key string) (io.ReadCloser, blob.Object, error) {
	<-ctx.Done()
	return nil, blob.Object{}, ctx.Err()
}

// TestTimedOutJobIsDeadLettered: a job that uses up its whole time budget
// every time is still dead-lettered (on a context of its own) and acked,
// not retried forever.
func TestTimedOutJobIsDeadLettered(t *testing.T) {
	r := newRigWith(t, worker.Config{AckWait: time.Second, MaxDeliver: 2, RetryBase: 10 * time.Millisecond,
		RetryMax: 50 * time.Millisecond, Webhook: webhook.Config{Timeout: 100 * time.Millisecond}},
		func(s blob.Store) blob.Store { return hangingBlobs{s} })
	r.proofAdded(t, "ord_2", 3, "proofs/ord_2/slow.png", "c2")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		dl := r.deadLetters(t)
		if assert.Len(c, dl, 1) {
			assert.Equal(c, "thumbnails", dl[0].Header.Get("Outrider-Dead-Consumer"))
			assert.Contains(c, dl[0].Header.Get("Outrider-Dead-Error"), "deadline exceeded")
		}
		r.settled(c, t, "thumbnails")
	}, 15*time.Second, 100*time.Millisecond)
}

// TestCheckFollowsTheConsumers: readiness is ok while the worker
// consumes, and not once it stopped.
func TestCheckFollowsTheConsumers(t *testing.T) {
	r := newRig(t, worker.Config{})
	require.NoError(t, r.w.Check(t.Context()))
	require.NoError(t, r.w.Stop(t.Context()))
	require.ErrorContains(t, r.w.Check(t.Context()), "stopped")
}

// TestOldMarksAndAttemptsAreTrimmed: the worker deletes processed marks
// and webhook attempts past their retention, and keeps the rest.
func TestOldMarksAndAttemptsAreTrimmed(t *testing.T) {
	r := newRigWith(t, worker.Config{ProcessedRetention: time.Hour, AttemptRetention: time.Hour,
		TrimInterval: 50 * time.Millisecond}, nil)
	ctx := t.Context()
	now := time.Now()
	_, err := r.store.MarkProcessed(ctx, "email", "old", now.Add(-2*time.Hour))
	require.NoError(t, err)
	_, err = r.store.MarkProcessed(ctx, "email", "recent", now)
	require.NoError(t, err)
	hook := persistence.Webhook{ID: "whk_" + ulid.Make().String(), URL: "https://example.test", Secret: "whsec_x",
		EventTypes: []string{"*"}, Enabled: true, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, r.store.CreateWebhook(ctx, hook))
	for _, at := range []time.Time{now.Add(-3 * time.Hour), now} {
		_, err := r.store.RecordWebhookAttempt(ctx, persistence.WebhookAttempt{
			ID: "wha_" + ulid.MustNew(ulid.Timestamp(at), rand.Reader).String(), WebhookID: hook.ID,
			DeliveryID: "d", EventID: "e", EventType: "order.created", Attempt: 1, Success: true, StatusCode: 204, At: at,
		}, 10)
		require.NoError(t, err)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		old, err := r.store.Processed(ctx, "email", "old")
		assert.NoError(c, err)
		assert.False(c, old, "the old mark is trimmed")
		atts, _, err := r.store.ListWebhookAttempts(ctx, hook.ID, persistence.WebhookPage{Limit: 10})
		assert.NoError(c, err)
		assert.Len(c, atts, 1, "the old attempt is trimmed")
	}, 5*time.Second, 50*time.Millisecond)
	recent, err := r.store.Processed(ctx, "email", "recent")
	require.NoError(t, err)
	require.True(t, recent)
}

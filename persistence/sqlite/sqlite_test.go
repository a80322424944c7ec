package sqlite_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/persistence/sqlite"
	"github.com/outrider/outrider/persistence/sqlite/sqlitetest"
	"github.com/outrider/outrider/persistence/storetest"
)

// TestMain doubles as the entry point of the durability test's child
// process; otherwise every Store a test opens is closed by its cleanup,
// and nothing may linger.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Backend { return sqlitetest.Open(t) })
}

var quiet = sqlite.Options{Logger: slog.New(slog.DiscardHandler)}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	s := sqlitetest.Open(t) // migrated once already
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, s.Ping(t.Context()))
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "o.db")
	s, err := sqlite.Open(t.Context(), path, quiet)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	c := orderCommit("o1", 1)
	require.NoError(t, s.Commit(t.Context(), c))
	s.Close()

	s, err = sqlite.Open(t.Context(), path, quiet)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Migrate(t.Context()), "a second start migrates nothing")
	l, err := s.Load(t.Context(), actors.KindOrder, "o1")
	require.NoError(t, err)
	require.Equal(t, c.Events, l.Events)
	o, err := s.GetOrder(t.Context(), "o1")
	require.NoError(t, err)
	require.Equal(t, c.Orders[0], o)
}

// The database a node creates (password hashes, personal data) is its
// owner's alone, and so are SQLite's -wal and -shm files beside it
// (SECURITY.md, known gap 9: it was 0644).
func TestNewDatabaseIsOwnerOnly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "o.db")
	s, err := sqlite.Open(t.Context(), path, quiet)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Migrate(t.Context()))
	require.NoError(t, s.Commit(t.Context(), orderCommit("o1", 1)))
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(f)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), f)
	}
}

func TestJournalEventsResumesAfterSeq(t *testing.T) {
	t.Parallel()
	s, ctx := sqlitetest.Open(t), t.Context()
	var want []actors.Event
	for seq := int64(1); seq <= 4; seq++ {
		c := orderCommit("o1", seq)
		require.NoError(t, s.Commit(ctx, c))
		want = append(want, c.Events...)
	}
	for after := int64(0); after <= 4; after++ {
		got, err := s.JournalEvents(ctx, actors.KindOrder, "o1", after)
		require.NoError(t, err)
		if after == 4 {
			require.Empty(t, got)
			continue
		}
		require.Equal(t, want[after:], got, "after %d", after)
	}
	got, err := s.JournalEvents(ctx, actors.KindDriver, "o1", 0)
	require.NoError(t, err)
	require.Empty(t, got)
}

// Timestamps round-trip at microsecond precision, including the zero time
// and far dates, and come back in UTC.
func TestTimestampsRoundTrip(t *testing.T) {
	t.Parallel()
	s, ctx := sqlitetest.Open(t), t.Context()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	for i, at := range []time.Time{
		{},
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 29, 2, 30, 0, 123456000, berlin),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
	} {
		id := fmt.Sprintf("u%d", i)
		require.NoError(t, s.Commit(ctx, actors.Commit{Users: []actors.UserRow{
			{ID: id, Email: id + "@example.com", Role: actors.RoleCustomer, CreatedAt: at}}}))
		u, err := s.GetUser(ctx, id)
		require.NoError(t, err)
		require.Equal(t, at.UTC(), u.CreatedAt, "%v", at)
	}
}

func TestOutboxReadAndMark(t *testing.T) {
	t.Parallel()
	s, ctx := sqlitetest.Open(t), t.Context()
	const n = 600 // more than one UPDATE's worth of ids
	var ids []string
	for i := range n {
		c := orderCommit(fmt.Sprintf("o%04d", i), 1)
		require.NoError(t, s.Commit(ctx, c))
		ids = append(ids, c.Outbox[0].ID)
	}
	msgs, err := s.UnpublishedOutbox(ctx, 3)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	require.Equal(t, orderCommit("o0000", 1).Outbox[0], msgs[0], "oldest first, whole")

	at := time.Now()
	require.NoError(t, s.MarkOutboxPublished(ctx, append(ids[:n-1:n-1], "unknown"), at))
	require.NoError(t, s.MarkOutboxPublished(ctx, ids[:5], at), "marking twice is harmless")
	require.NoError(t, s.MarkOutboxPublished(ctx, nil, at))
	msgs, err = s.UnpublishedOutbox(ctx, 100)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, ids[n-1], msgs[0].ID)
}

func TestEmailUniqueIgnoringUnicodeCase(t *testing.T) {
	t.Parallel()
	s, ctx := sqlitetest.Open(t), t.Context()
	user := func(id, email string) actors.Commit {
		return actors.Commit{Users: []actors.UserRow{{ID: id, Email: email, Role: actors.RoleCustomer, CreatedAt: time.Now()}}}
	}
	require.NoError(t, s.Commit(ctx, user("u1", "Jürgen@Example.com")))
	require.ErrorIs(t, s.Commit(ctx, user("u2", "JÜRGEN@example.COM")), actors.ErrEmailTaken)
	u, err := s.GetUserByEmail(ctx, "jürgen@example.com")
	require.NoError(t, err)
	require.Equal(t, "u1", u.ID)
	err = s.Commit(ctx, actors.Commit{Users: append(user("u3", "a@example.com").Users, user("u4", "A@example.com").Users...)})
	require.ErrorIs(t, err, actors.ErrEmailTaken, "a duplicate within one commit too")
	_, err = s.GetUser(ctx, "u3")
	require.ErrorIs(t, err, persistence.ErrNotFound)
}

func TestOpenRejectsBadPath(t *testing.T) {
	t.Parallel()
	_, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "missing", "dir", "o.db"), quiet)
	require.Error(t, err)
	_, err = sqlite.Open(t.Context(), "", quiet)
	require.Error(t, err)
}

// Two Stores on one file stand for two processes: each has its own write
// connection, so only SQLite's file lock (BEGIN IMMEDIATE, busy_timeout)
// serialises them. The guards must still hold (I5, I2).
func TestTwoStoresOnOneFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "o.db")
	var stores [2]*sqlite.Store
	for i := range stores {
		s, err := sqlite.Open(t.Context(), path, quiet)
		require.NoError(t, err)
		t.Cleanup(s.Close)
		require.NoError(t, s.Migrate(t.Context()))
		stores[i] = s
	}
	ctx := t.Context()
	require.NoError(t, stores[0].Commit(ctx, actors.Commit{
		Users:   []actors.UserRow{{ID: "d1", Email: "d1@example.com", Role: actors.RoleDriver, CreatedAt: time.Now()}},
		Drivers: []actors.DriverRow{{ID: "d1", Available: true, Capacity: 1, Version: 1, UpdatedAt: time.Now()}},
	}))

	const writers = 50
	var journalWins, reserveWins atomic.Int32
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			s := stores[i%2]
			switch err := s.Commit(ctx, orderCommit("race", 1)); {
			case err == nil:
				journalWins.Add(1)
			default:
				assert.ErrorIs(t, err, actors.ErrConflict)
			}
			c := orderCommit(fmt.Sprintf("o%02d", i), 1)
			c.Loads = []actors.DriverLoad{{DriverID: "d1", Delta: 1}}
			switch err := s.Commit(ctx, c); {
			case err == nil:
				reserveWins.Add(1)
			default:
				assert.ErrorIs(t, err, actors.ErrDriverUnavailable)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(1), journalWins.Load(), "exactly one writer journals seq 1")
	require.Equal(t, int32(1), reserveWins.Load(), "a driver of capacity 1 takes one order")
	d, err := stores[1].GetDriver(ctx, "d1")
	require.NoError(t, err)
	require.Equal(t, 1, d.ActiveOrders)
}

// orderCommit is the commit of order id's event seq: journal entry, order
// row, timeline line and outbox message.
func orderCommit(id string, seq int64) actors.Commit {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second)
	lat, lng := 52.52, 13.41
	row := actors.OrderRow{ID: id, CustomerID: "c1",
		Pickup:  actors.Place{Address: "Alexanderplatz 1", Lat: &lat, Lng: &lng},
		Dropoff: actors.Place{Address: "Unter den Linden 5"}, DeliveryOption: "standard",
		PaymentStatus: "unpaid", Status: "pending", Version: seq, CreatedAt: at, UpdatedAt: at}
	payload, _ := json.Marshal(row)
	return actors.Commit{
		Events: []actors.Event{{Kind: actors.KindOrder, EntityID: id, Seq: seq, Type: "order.created",
			Payload: make([]byte, 160), CommandID: fmt.Sprintf("cmd-%s-%d", id, seq), At: at}},
		Orders: []actors.OrderRow{row},
		Timeline: []actors.TimelineEntry{{OrderID: id, Seq: seq, Status: "pending", ByUserID: "c1",
			ByRole: actors.RoleCustomer, Metadata: map[string]string{"event": "order.created"}, At: at}},
		Outbox: []actors.OutboxMessage{{ID: fmt.Sprintf("order:%s:%d", id, seq), Subject: "outrider.order." + id,
			Payload: payload, At: at}},
	}
}

// BenchmarkCommitOrder measures the commit of a newly created order: one
// journal entry, the order row, a timeline line and an outbox message.
// Each commit is one fsync of the WAL (synchronous=FULL).
func BenchmarkCommitOrder(b *testing.B) {
	s := sqlitetest.Open(b)
	var n atomic.Int64
	// As in the Postgres benchmark: many actors commit at once. Here they
	// queue for the one write connection.
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("o%012d", n.Add(1))
			if err := s.Commit(b.Context(), orderCommit(id, 1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "commits/s")
}

// BenchmarkGetOrder measures the read of one order row, the lookup behind
// GET /v1/orders/{id}: CPU in the SQLite engine rather than fsync, so it
// shows what a build's code generation costs (BENCHMARKS.md compares
// `make build` with `make run`'s binary).
func BenchmarkGetOrder(b *testing.B) {
	s := sqlitetest.Open(b)
	if err := s.Commit(b.Context(), orderCommit("o1", 1)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.GetOrder(b.Context(), "o1"); err != nil {
			b.Fatal(err)
		}
	}
}

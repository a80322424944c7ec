package deadlines_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/dispatch/deadlines"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
)

// The scheduler on the real Postgres store: what the package comment
// promises — every due deadline fired, none before it is due, a failed
// fire fired again once its lease ends, a settled one deleted, and
// several schedulers never firing one deadline twice while its lease
// lives.

// fires records the deadlines a Fire saw, in order.
type fires struct {
	mu   sync.Mutex
	seen []string
	at   map[string]time.Time
}

func (f *fires) record(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at == nil {
		f.at = map[string]time.Time{}
	}
	f.seen = append(f.seen, id)
	if _, ok := f.at[id]; !ok {
		f.at[id] = time.Now()
	}
	n := 0
	for _, s := range f.seen {
		if s == id {
			n++
		}
	}
	return n
}

func (f *fires) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.seen {
		if s == id {
			n++
		}
	}
	return n
}

func (f *fires) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

func arm(t *testing.T, store interface {
	Commit(context.Context, actors.Commit) error
}, due time.Time, ids ...string) {
	t.Helper()
	var c actors.Commit
	for _, id := range ids {
		c.Deadlines = append(c.Deadlines, actors.Deadline{ID: id, Kind: actors.KindOrder, EntityID: "o-" + id,
			DueAt: due, Command: []byte("cmd-" + id)})
	}
	require.NoError(t, store.Commit(t.Context(), c))
}

func start(t *testing.T, s *deadlines.Scheduler) {
	t.Helper()
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Stop(ctx))
	})
}

func TestFiresEachDueDeadlineOnceAndDeletesIt(t *testing.T) {
	t.Parallel()
	store := pgtest.Open(t)
	var f fires
	var wrong []string
	var mu sync.Mutex
	s, err := deadlines.New(store, func(_ context.Context, d actors.Deadline) error {
		if string(d.Command) != "cmd-"+d.ID || d.EntityID != "o-"+d.ID {
			mu.Lock()
			wrong = append(wrong, d.ID)
			mu.Unlock()
		}
		f.record(d.ID)
		return nil
	}, deadlines.Config{Owner: "node-a", Idle: 50 * time.Millisecond, Batch: 7})
	require.NoError(t, err)
	now := time.Now()
	var due []string
	for i := range 30 {
		due = append(due, fmt.Sprintf("due-%02d", i))
	}
	arm(t, store, now.Add(-time.Second), due...)
	arm(t, store, now.Add(time.Hour), "later")
	start(t, s)

	require.Eventually(t, func() bool { return f.total() >= len(due) }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		next, ok, err := store.NextDeadline(t.Context())
		require.NoError(t, err)
		return ok && next.After(now.Add(59*time.Minute)) // only "later" is left
	}, 5*time.Second, 10*time.Millisecond, "settled deadlines are deleted")
	// Their rows are gone, so nothing is left to fire again.
	for _, id := range due {
		require.Equal(t, 1, f.count(id), id)
	}
	require.Zero(t, f.count("later"), "a deadline is not fired before it is due")
	require.Empty(t, wrong, "Fire gets the deadline's own command and entity")
}

func TestFiresWhenDueNotBefore(t *testing.T) {
	t.Parallel()
	store := pgtest.Open(t)
	var f fires
	s, err := deadlines.New(store, func(_ context.Context, d actors.Deadline) error {
		f.record(d.ID)
		return nil
	}, deadlines.Config{Owner: "node-a", Idle: time.Second})
	require.NoError(t, err)
	start(t, s)
	due := time.Now().Add(700 * time.Millisecond)
	arm(t, store, due, "soon")
	require.Eventually(t, func() bool { return f.count("soon") == 1 }, 5*time.Second, 5*time.Millisecond)
	f.mu.Lock()
	firedAt := f.at["soon"]
	f.mu.Unlock()
	require.False(t, firedAt.Before(due), "fired %s before its due time", due.Sub(firedAt))
	// The scheduler slept until the deadline, not a whole Idle past it.
	require.Less(t, firedAt.Sub(due), 900*time.Millisecond)
}

func TestAFailedFireIsFiredAgainAfterItsLease(t *testing.T) {
	t.Parallel()
	store := pgtest.Open(t)
	var f fires
	const lease = 400 * time.Millisecond
	s, err := deadlines.New(store, func(_ context.Context, d actors.Deadline) error {
		if f.record(d.ID) == 1 {
			return errors.New("the entity did not answer")
		}
		return nil
	}, deadlines.Config{Owner: "node-a", Lease: lease, FireTimeout: 100 * time.Millisecond, Idle: 20 * time.Millisecond})
	require.NoError(t, err)
	arm(t, store, time.Now().Add(-time.Millisecond), "flaky")
	start(t, s)
	require.Eventually(t, func() bool { return f.count("flaky") == 2 }, 5*time.Second, 5*time.Millisecond)
	f.mu.Lock()
	first := f.at["flaky"]
	f.mu.Unlock()
	// The lease runs from the claim, a little before the first fire was
	// recorded; without leases it would come back within an Idle (20 ms).
	require.GreaterOrEqual(t, time.Since(first), lease/2, "not fired again inside its lease")
	require.Eventually(t, func() bool {
		_, ok, err := store.NextDeadline(t.Context())
		require.NoError(t, err)
		return !ok
	}, 5*time.Second, 10*time.Millisecond, "deleted once settled")
	require.Equal(t, 2, f.count("flaky"), "its row is gone: no third fire")
}

func TestAPostponedFireIsFiredAgainAtItsNewTime(t *testing.T) {
	t.Parallel()
	store := pgtest.Open(t)
	const later = 600 * time.Millisecond
	var (
		mu      sync.Mutex
		firedAt []time.Time
		asked   time.Time // the time the first fire asked for
	)
	reg := prometheus.NewRegistry()
	// The default lease (15 s) outlasts the test: only the postpone, which
	// ends the lease, brings the deadline back within it.
	s, err := deadlines.New(store, func(_ context.Context, d actors.Deadline) error {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		firedAt = append(firedAt, now)
		if len(firedAt) == 1 {
			asked = now.Add(later)
			return fmt.Errorf("no driver yet: %w", deadlines.Postpone(asked)) // wrapped, still a Later
		}
		return nil
	}, deadlines.Config{Owner: "node-a", Idle: 20 * time.Millisecond, Registerer: reg})
	require.NoError(t, err)
	arm(t, store, time.Now().Add(-time.Millisecond), "round")
	start(t, s)

	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(firedAt)
	}
	require.Eventually(t, func() bool { return count() == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		_, ok, err := store.NextDeadline(t.Context())
		require.NoError(t, err)
		return !ok
	}, 5*time.Second, 10*time.Millisecond, "deleted once settled")
	require.Never(t, func() bool { return count() > 2 }, 100*time.Millisecond, 5*time.Millisecond,
		"five Idles later, no third fire: its row is gone")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, firedAt, 2, "postponed once, settled once: its row is gone")
	require.False(t, firedAt[1].Before(asked), "fired again %s before the time it asked for", asked.Sub(firedAt[1]))
	require.GreaterOrEqual(t, firedAt[1].Sub(firedAt[0]), later)
	// Not a lease running out: it came back soon after the time it asked for.
	require.Less(t, firedAt[1].Sub(asked), 5*time.Second)

	fired, err := testutil.GatherAndCount(reg, "outrider_deadlines_fired_total")
	require.NoError(t, err)
	require.Equal(t, 2, fired, "one series per result seen")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP outrider_deadlines_fired_total Deadlines fired, by result (settled: the entity answered and the row went; postponed: the entity asked to be fired again at a later time; failed: fired again when its lease ends).
# TYPE outrider_deadlines_fired_total counter
outrider_deadlines_fired_total{result="postponed"} 1
outrider_deadlines_fired_total{result="settled"} 1
`), "outrider_deadlines_fired_total"))
}

func TestLaterIsAnError(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	err := fmt.Errorf("wrapped: %w", deadlines.Postpone(at))
	var later *deadlines.Later
	require.ErrorAs(t, err, &later)
	require.Equal(t, at, later.At)
	require.Contains(t, err.Error(), "2026-03-01T12:00:00Z")
}

func TestSchedulersShareTheWorkWithoutFiringTwice(t *testing.T) {
	t.Parallel()
	store := pgtest.Open(t)
	var f fires
	fire := func(ctx context.Context, d actors.Deadline) error {
		// A real round trip, as an entity's answer takes one, so that
		// the schedulers' fires overlap.
		if _, _, err := store.NextDeadline(ctx); err != nil {
			return err
		}
		f.record(d.ID)
		return nil
	}
	owners := map[string]int{}
	var mu sync.Mutex
	for _, owner := range []string{"a", "b", "c"} {
		s, err := deadlines.New(store, func(ctx context.Context, d actors.Deadline) error {
			mu.Lock()
			owners[owner]++
			mu.Unlock()
			return fire(ctx, d)
		}, deadlines.Config{Owner: owner, Idle: 20 * time.Millisecond, Batch: 5, Concurrency: 2})
		require.NoError(t, err)
		start(t, s)
	}
	const rounds, per = 5, 40
	for r := range rounds {
		var ids []string
		for i := range per {
			ids = append(ids, fmt.Sprintf("r%d-%02d", r, i))
		}
		arm(t, store, time.Now(), ids...)
		require.Eventually(t, func() bool { return f.total() >= (r+1)*per }, 10*time.Second, 5*time.Millisecond, "round %d", r)
	}
	require.Eventually(t, func() bool {
		_, ok, err := store.NextDeadline(t.Context())
		require.NoError(t, err)
		return !ok
	}, 10*time.Second, 5*time.Millisecond, "every fired deadline is deleted, so none can fire again")
	require.Equal(t, rounds*per, f.total(), "every deadline fired exactly once")
	f.mu.Lock()
	seen := map[string]int{}
	for _, id := range f.seen {
		seen[id]++
	}
	f.mu.Unlock()
	for id, n := range seen {
		require.Equal(t, 1, n, id)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, owners, 3, "every scheduler fired some: %v", owners)
}

func TestConfigIsChecked(t *testing.T) {
	t.Parallel()
	_, err := deadlines.New(nil, nil, deadlines.Config{})
	require.Error(t, err, "an owner is required")
	_, err = deadlines.New(nil, nil, deadlines.Config{Owner: "a", Lease: time.Second, FireTimeout: 2 * time.Second})
	require.Error(t, err, "a lease shorter than a fire")
}

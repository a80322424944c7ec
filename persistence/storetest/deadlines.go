package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

// testDeadlines: the deadline rows of actors.Commit and the scheduler's
// lease-based side of them (persistence.Deadlines). Times are the suite's
// clock t0 plus offsets; the backends never read a clock of their own.
func testDeadlines(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Run("ClaimedOnlyWhenDue", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		d5, d10, d20 := deadline("dl-5", t0.Add(5*time.Second)), deadline("dl-10", t0.Add(10*time.Second)),
			deadline("dl-20", t0.Add(20*time.Second))
		arm(t, b, d10, d20, d5)

		require.Empty(t, claim(t, b, "a", t0.Add(4*time.Second), t0.Add(time.Hour), 10), "nothing is due yet")
		// Due at or before now, earliest first; dl-10 is due exactly now.
		require.Equal(t, []actors.Deadline{d5, d10},
			claim(t, b, "a", t0.Add(10*time.Second), t0.Add(time.Hour), 10))
		require.Empty(t, claim(t, b, "b", t0.Add(10*time.Second), t0.Add(time.Hour), 10), "both are leased to a")
		require.Equal(t, []actors.Deadline{d20}, claim(t, b, "b", t0.Add(time.Minute), t0.Add(time.Hour), 10))
	})

	t.Run("ClaimTakesAtMostLimitEarliestFirst", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		var all []actors.Deadline
		for i := range 5 {
			all = append(all, deadline(fmt.Sprintf("dl-%d", i), t0.Add(time.Duration(5-i)*time.Second)))
		}
		arm(t, b, all...)
		now, until := t0.Add(time.Minute), t0.Add(time.Hour)
		require.Equal(t, []actors.Deadline{all[4], all[3]}, claim(t, b, "a", now, until, 2))
		require.Equal(t, []actors.Deadline{all[2], all[1]}, claim(t, b, "b", now, until, 2))
		require.Equal(t, []actors.Deadline{all[0]}, claim(t, b, "c", now, until, 2))
		require.Empty(t, claim(t, b, "d", now, until, 2))
	})

	t.Run("LeaseHidesUntilItRunsOut", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		d := deadline("dl", t0)
		arm(t, b, d)
		lease := t0.Add(30 * time.Second)
		require.Equal(t, []actors.Deadline{d}, claim(t, b, "a", t0, lease, 1))

		require.Empty(t, claim(t, b, "b", t0.Add(29*time.Second), t0.Add(time.Hour), 1))
		require.Empty(t, claim(t, b, "b", lease, t0.Add(time.Hour), 1), "a lease ending now has not ended before now")
		require.Equal(t, []actors.Deadline{d}, claim(t, b, "b", lease.Add(time.Second), t0.Add(time.Hour), 1),
			"a lease that ended is free to the next owner")
		require.Empty(t, claim(t, b, "a", lease.Add(2*time.Second), t0.Add(time.Hour), 1), "b holds it now")

		// a fired it late; b holds the lease now, so a's delete leaves it.
		require.NoError(t, b.DeleteDeadline(ctx, "dl", "a"))
		requireNext(t, b, t0)
		require.NoError(t, b.DeleteDeadline(ctx, "dl", "b"))
		requireNoDeadline(t, b)
	})

	t.Run("DeleteOnlyByTheLeaseHolder", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		arm(t, b, deadline("unleased", t0), deadline("leased", t0.Add(time.Second)))
		require.NoError(t, b.DeleteDeadline(ctx, "unleased", "a"), "nobody holds it")
		require.Len(t, claim(t, b, "a", t0, t0.Add(time.Hour), 1), 1) // "unleased", now leased to a
		require.NoError(t, b.DeleteDeadline(ctx, "missing", "a"), "a missing deadline is not an error")
		require.NoError(t, b.DeleteDeadline(ctx, "unleased", "b"), "b does not hold it")
		requireNext(t, b, t0)

		require.Len(t, claim(t, b, "b", t0.Add(time.Second), t0.Add(time.Hour), 1), 1) // "leased"
		require.NoError(t, b.DeleteDeadline(ctx, "leased", "a"))
		require.NoError(t, b.DeleteDeadline(ctx, "unleased", "a"))
		requireNext(t, b, t0.Add(time.Second))
		require.NoError(t, b.DeleteDeadline(ctx, "leased", "b"))
		requireNoDeadline(t, b)

		// A lease that ran out with nobody claiming since is still the
		// owner's to end (persistence.Deadlines: not judged by a clock).
		arm(t, b, deadline("late", t0))
		require.Len(t, claim(t, b, "a", t0, t0.Add(time.Second), 1), 1)
		require.NoError(t, b.DeleteDeadline(ctx, "late", "a"))
		requireNoDeadline(t, b)
	})

	t.Run("PostponedIsClaimedAgainWhenDueByAnyOwner", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		d := deadline("dl", t0)
		arm(t, b, d)
		require.Equal(t, []actors.Deadline{d}, claim(t, b, "a", t0, t0.Add(time.Hour), 1))

		later := d
		later.DueAt = t0.Add(time.Minute)
		require.NoError(t, b.PostponeDeadline(ctx, "dl", "a", later.DueAt))
		requireNext(t, b, later.DueAt)
		require.Empty(t, claim(t, b, "a", t0.Add(59*time.Second), t0.Add(time.Hour), 1), "not due before its new time")
		require.Empty(t, claim(t, b, "b", t0.Add(59*time.Second), t0.Add(time.Hour), 1), "not due before its new time")
		// Due at its new time, long before a's lease would have ended:
		// the postpone ended it, and b claims the same command.
		require.Equal(t, []actors.Deadline{later}, claim(t, b, "b", later.DueAt, t0.Add(2*time.Hour), 1))

		// b holds it now: a can neither postpone nor delete it.
		require.NoError(t, b.PostponeDeadline(ctx, "dl", "a", t0.Add(time.Hour)))
		require.NoError(t, b.DeleteDeadline(ctx, "dl", "a"))
		requireNext(t, b, later.DueAt)
		require.Empty(t, claim(t, b, "c", t0.Add(time.Hour), t0.Add(3*time.Hour), 1), "still b's")

		// b postpones it again; it is due after its time too, and its
		// first claimer may take it back.
		again := d
		again.DueAt = t0.Add(3 * time.Hour)
		require.NoError(t, b.PostponeDeadline(ctx, "dl", "b", again.DueAt))
		requireNext(t, b, again.DueAt)
		require.Empty(t, claim(t, b, "a", again.DueAt.Add(-time.Microsecond), t0.Add(5*time.Hour), 1))
		require.Equal(t, []actors.Deadline{again}, claim(t, b, "a", again.DueAt.Add(time.Minute), t0.Add(5*time.Hour), 1))
		require.NoError(t, b.DeleteDeadline(ctx, "dl", "a"))
		requireNoDeadline(t, b)
	})

	t.Run("PostponeOnlyByTheLeaseHolder", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		d := deadline("dl", t0)
		arm(t, b, d)
		require.NoError(t, b.PostponeDeadline(ctx, "dl", "a", t0.Add(time.Hour)), "nobody holds it")
		requireNext(t, b, t0)
		require.NoError(t, b.PostponeDeadline(ctx, "missing", "a", t0.Add(time.Hour)),
			"a missing deadline is not an error")
		requireNext(t, b, t0)

		lease := t0.Add(30 * time.Second)
		require.Equal(t, []actors.Deadline{d}, claim(t, b, "a", t0, lease, 1))
		require.NoError(t, b.PostponeDeadline(ctx, "dl", "b", t0.Add(time.Hour)), "b does not hold it")
		requireNext(t, b, t0)
		require.Empty(t, claim(t, b, "b", lease, t0.Add(time.Hour), 1), "a's lease lives on")
		require.Equal(t, []actors.Deadline{d}, claim(t, b, "b", lease.Add(time.Second), t0.Add(time.Hour), 1),
			"unchanged: due when it was, and free once a's lease ended")

		// A lease that ran out with nobody claiming since is still the
		// owner's to postpone (not judged by a clock).
		require.NoError(t, b.DeleteDeadline(ctx, "dl", "b"))
		arm(t, b, d)
		require.Len(t, claim(t, b, "a", t0, t0.Add(time.Second), 1), 1)
		require.NoError(t, b.PostponeDeadline(ctx, "dl", "a", t0.Add(time.Hour)))
		requireNext(t, b, t0.Add(time.Hour))
	})

	t.Run("PostponeLeavesARearmedDeadline", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		first := deadline("dl", t0)
		arm(t, b, first)
		require.Len(t, claim(t, b, "a", t0, t0.Add(time.Hour), 1), 1)
		second := first
		second.DueAt, second.Command = t0.Add(time.Second), []byte("second")
		arm(t, b, second)
		require.NoError(t, b.PostponeDeadline(ctx, "dl", "a", t0.Add(time.Hour)), "a no longer holds it")
		requireNext(t, b, second.DueAt)
		require.Equal(t, []actors.Deadline{second}, claim(t, b, "b", second.DueAt, t0.Add(time.Hour), 1))
	})

	t.Run("RearmingReplacesAndEndsTheLease", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		first := deadline("dl", t0)
		arm(t, b, first)
		require.Equal(t, []actors.Deadline{first}, claim(t, b, "a", t0, t0.Add(time.Hour), 1))

		// Re-armed, still due: the lease a held is gone, so b may claim
		// the new command at once, long before a's lease would end.
		second := first
		second.DueAt, second.Command = t0.Add(time.Second), []byte("second")
		arm(t, b, second)
		require.NoError(t, b.DeleteDeadline(ctx, "dl", "a"), "a no longer holds it")
		require.Equal(t, []actors.Deadline{second}, claim(t, b, "b", t0.Add(2*time.Second), t0.Add(time.Hour), 1))

		// Re-armed later: not due until its new time.
		third := first
		third.EntityID, third.DueAt, third.Command = "ord-other", t0.Add(time.Minute), []byte("third")
		arm(t, b, third)
		requireNext(t, b, third.DueAt)
		require.Empty(t, claim(t, b, "c", t0.Add(59*time.Second), t0.Add(time.Hour), 1))
		require.NoError(t, b.DeleteDeadline(ctx, "dl", "b"), "b no longer holds it")
		require.Equal(t, []actors.Deadline{third}, claim(t, b, "c", t0.Add(time.Minute), t0.Add(time.Hour), 1))
	})

	t.Run("DoneInACommitRemoves", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		c := orderCommit("o1", "c1", 1, "assigned", t0)
		c.Deadlines = []actors.Deadline{deadline("offer", t0.Add(time.Minute)), deadline("round", t0.Add(time.Hour))}
		require.NoError(t, b.Commit(t.Context(), c))
		requireNext(t, b, t0.Add(time.Minute))

		// The offer fired and was claimed; the order's next commit ends
		// both deadlines, whoever holds them (an unknown ID is fine).
		require.Len(t, claim(t, b, "a", t0.Add(time.Minute), t0.Add(2*time.Hour), 1), 1)
		c = orderCommit("o1", "c1", 2, "pending", t0.Add(time.Minute))
		c.DeadlinesDone = []string{"offer", "round", "never-armed"}
		require.NoError(t, b.Commit(t.Context(), c))
		requireNoDeadline(t, b)
	})

	// Not (yet) stated by actors.Commit's doc: a commit that removes and
	// arms one ID (a deadline that fired and is set again) leaves it
	// armed, as if it removed first. Both backends do; this pins it.
	t.Run("DoneAndArmedInOneCommitStaysArmed", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		arm(t, b, deadline("round", t0))
		next := deadline("round", t0.Add(time.Minute))
		require.NoError(t, b.Commit(t.Context(), actors.Commit{
			Deadlines: []actors.Deadline{next}, DeadlinesDone: []string{"round"}}))
		requireNext(t, b, next.DueAt)
		require.Equal(t, []actors.Deadline{next}, claim(t, b, "a", next.DueAt, t0.Add(time.Hour), 1))
	})

	t.Run("RefusedCommitArmsAndRemovesNothing", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		addDriver(t, b, "offline", 1, false)
		addDriver(t, b, "busy", 2, true)
		require.NoError(t, load(b, ctx, "busy", 1))
		require.NoError(t, load(b, ctx, "busy", 1))
		require.NoError(t, b.Commit(ctx, orderCommit("o1", "c1", 1, "pending", t0)))
		kept := deadline("kept", t0.Add(time.Hour))
		arm(t, b, kept)

		tests := []struct {
			name   string
			commit actors.Commit
			want   error
		}{
			{"journal conflict", orderCommit("o1", "c1", 1, "pending", t0), actors.ErrConflict},
			{"driver unavailable", withLoad(orderCommit("o2", "c1", 1, "assigned", t0), "offline"), actors.ErrDriverUnavailable},
			{"driver not found", withLoad(orderCommit("o3", "c1", 1, "assigned", t0), "ghost"), actors.ErrDriverNotFound},
			{"capacity in use", driverCommit("busy", 2, 1, true), actors.ErrCapacityInUse},
		}
		for _, tt := range tests {
			c := tt.commit
			c.Deadlines = []actors.Deadline{deadline("refused-"+tt.name, t0), {ID: "kept", Kind: actors.KindOrder,
				EntityID: "o1", DueAt: t0, Command: []byte("replaced")}}
			c.DeadlinesDone = []string{"kept"}
			require.ErrorIs(t, b.Commit(ctx, c), tt.want, tt.name)
			requireNext(t, b, kept.DueAt)
		}
		require.Empty(t, claim(t, b, "a", t0.Add(time.Minute), t0.Add(2*time.Hour), 10))
		require.Equal(t, []actors.Deadline{kept}, claim(t, b, "a", kept.DueAt, t0.Add(2*time.Hour), 10))
	})

	t.Run("NextDeadline", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		requireNoDeadline(t, b)
		arm(t, b, deadline("b", t0.Add(2*time.Second)), deadline("a", t0.Add(time.Second)), deadline("c", t0.Add(3*time.Second)))
		requireNext(t, b, t0.Add(time.Second))
		require.Len(t, claim(t, b, "x", t0.Add(time.Second), t0.Add(time.Hour), 1), 1)
		requireNext(t, b, t0.Add(time.Second)) // leased or not
		require.NoError(t, b.DeleteDeadline(ctx, "a", "x"))
		requireNext(t, b, t0.Add(2*time.Second))
		require.NoError(t, b.Commit(ctx, actors.Commit{DeadlinesDone: []string{"b", "c"}}))
		requireNoDeadline(t, b)
	})

	t.Run("ConcurrentClaimsNeverShareADeadline", func(t *testing.T) {
		t.Parallel()
		testClaimHammer(t, open(t))
	})
}

// testClaimHammer: 8 owners claim the same due deadlines at once, a few
// per call, round after round; every deadline goes to exactly one owner.
// Each round claims its deadlines twice: fresh, then again once the first
// leases have run out (rows that concurrent claims are re-leasing). A
// claim that ignores other claimers' locks or leases fails it.
func testClaimHammer(t *testing.T, b persistence.Backend) {
	const (
		owners    = 8
		perRound  = 40
		perClaim  = 3
		leaseTime = 10 * time.Minute
	)
	rounds := 25
	if testing.Short() {
		rounds = 5
	}
	ctx := t.Context()
	for round := range rounds {
		// Each round's clock is an hour after the last; the deadlines of
		// earlier rounds are all deleted by then.
		now := t0.Add(time.Duration(round) * time.Hour)
		var want []string
		var ds []actors.Deadline
		for i := range perRound {
			d := deadline(fmt.Sprintf("r%02d-%02d", round, i), now.Add(-time.Duration(i%7)*time.Millisecond))
			ds, want = append(ds, d), append(want, d.ID)
		}
		arm(t, b, ds...)
		slices.Sort(want)
		for phase, at := range []time.Time{now, now.Add(2 * leaseTime)} {
			got := make([][]string, owners)
			errs := make([]error, owners)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for o := range owners {
				wg.Go(func() {
					<-start
					owner := fmt.Sprintf("owner-%d-%d", phase, o)
					for {
						claimed, err := b.ClaimDue(ctx, owner, at, at.Add(leaseTime), perClaim)
						if err != nil {
							errs[o] = err
							return
						}
						if len(claimed) == 0 {
							break
						}
						for _, d := range claimed {
							got[o] = append(got[o], d.ID)
						}
						if len(got[o]) > perRound { // a broken claim would loop forever
							errs[o] = fmt.Errorf("claimed %d of %d deadlines", len(got[o]), perRound)
							return
						}
					}
					if phase == 1 { // done with the round's deadlines
						for _, id := range got[o] {
							if errs[o] = b.DeleteDeadline(ctx, id, owner); errs[o] != nil {
								return
							}
						}
					}
				})
			}
			close(start)
			wg.Wait()
			var all []string
			for o := range owners {
				require.NoError(t, errs[o], "round %d phase %d owner %d", round, phase, o)
				all = append(all, got[o]...)
			}
			slices.Sort(all)
			require.Equal(t, want, all, "round %d phase %d: each deadline claimed once by one owner", round, phase)
		}
		requireNoDeadline(t, b)
	}
}

// deadline is an order deadline with a command naming it and its time.
func deadline(id string, due time.Time) actors.Deadline {
	return actors.Deadline{ID: id, Kind: actors.KindOrder, EntityID: "ord-" + id, DueAt: due,
		Command: []byte("expire " + id + " at " + due.Format(time.RFC3339Nano))}
}

// arm commits deadlines on their own.
func arm(t *testing.T, b persistence.Backend, ds ...actors.Deadline) {
	t.Helper()
	require.NoError(t, b.Commit(t.Context(), actors.Commit{Deadlines: ds}))
}

func claim(t *testing.T, b persistence.Backend, owner string, now, leaseUntil time.Time, limit int) []actors.Deadline {
	t.Helper()
	ds, err := b.ClaimDue(t.Context(), owner, now, leaseUntil, limit)
	require.NoError(t, err)
	return ds
}

func requireNext(t *testing.T, b persistence.Backend, want time.Time) {
	t.Helper()
	due, ok, err := b.NextDeadline(t.Context())
	require.NoError(t, err)
	require.True(t, ok, "a deadline is armed")
	require.Equal(t, want, due)
}

func requireNoDeadline(t *testing.T, b persistence.Backend) {
	t.Helper()
	due, ok, err := b.NextDeadline(t.Context())
	require.NoError(t, err)
	require.False(t, ok, "no deadline is armed, yet the next is due %v", due)
}

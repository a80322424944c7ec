package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

// testLastAdmin: the last-admin guard (actors.Commit.AdminsLeaving)
// refuses a commit that would leave no active admin, writing nothing of
// it, and lets through one that leaves another or removes a user who was
// not an active admin; two commits racing to remove the last two admins
// cannot both pass (issue 14: the check ran before the commit, and two
// admins switching each other off at once left none).
func testLastAdmin(t *testing.T, open func(t *testing.T) persistence.Backend) {
	// leave is the user actor's commit of event seq taking admin id out
	// of the active admins: switched off, or given role customer.
	leave := func(id string, seq int64, demote bool) actors.Commit {
		u := actors.UserUpdate{ID: id, Active: ptr(false)}
		if demote {
			u = actors.UserUpdate{ID: id, Role: ptr(actors.RoleCustomer)}
		}
		return actors.Commit{
			Events: []actors.Event{{Kind: actors.KindUser, EntityID: id, Seq: seq, Type: "user.leaves",
				Payload: []byte(id), CommandID: fmt.Sprintf("leave-%s-%d", id, seq), At: t0}},
			UserUpdates:   []actors.UserUpdate{u},
			AdminsLeaving: []string{id},
		}
	}
	activeAdmins := func(t *testing.T, b persistence.Backend, ids ...string) int {
		n := 0
		for _, id := range ids {
			u, err := b.GetUser(t.Context(), id)
			require.NoError(t, err)
			if u.Role == actors.RoleAdmin && !u.Inactive {
				n++
			}
		}
		return n
	}

	t.Run("Sequential", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		for _, id := range []string{"a1", "a2"} {
			require.NoError(t, b.Commit(ctx, userCommit(id, id+"@example.com", actors.RoleAdmin)))
		}
		require.NoError(t, b.Commit(ctx, userCommit("c1", "c1@example.com", actors.RoleCustomer)))

		require.NoError(t, b.Commit(ctx, leave("a1", 2, false)), "a2 remains")
		require.ErrorIs(t, b.Commit(ctx, leave("a2", 2, true)), actors.ErrLastAdmin)
		require.ErrorIs(t, b.Commit(ctx, leave("a2", 2, false)), actors.ErrLastAdmin)
		require.Equal(t, 1, activeAdmins(t, b, "a1", "a2"), "the refused commits wrote nothing")
		v, err := b.Version(ctx, actors.KindUser, "a2")
		require.NoError(t, err)
		require.EqualValues(t, 1, v, "nor journaled anything")

		// a1, already off, leaving again takes no admin away; nor does a
		// customer.
		require.NoError(t, b.Commit(ctx, leave("a1", 3, true)))
		require.NoError(t, b.Commit(ctx, leave("c1", 2, false)))
		// With a third admin, a2 may go.
		require.NoError(t, b.Commit(ctx, userCommit("a3", "a3@example.com", actors.RoleAdmin)))
		require.NoError(t, b.Commit(ctx, leave("a2", 2, true)))
		require.Equal(t, 1, activeAdmins(t, b, "a1", "a2", "a3"))
	})

	t.Run("Race", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		const rounds = 20
		for i := range rounds {
			x, y := fmt.Sprintf("x%02d", i), fmt.Sprintf("y%02d", i)
			// Each round: exactly two active admins, every earlier pair
			// down to one (its survivor switched off below).
			for _, id := range []string{x, y} {
				require.NoError(t, b.Commit(ctx, userCommit(id, id+"@example.com", actors.RoleAdmin)))
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for j, id := range []string{x, y} {
				wg.Go(func() {
					<-start
					errs[j] = b.Commit(ctx, leave(id, 2, (i+j)%2 == 0))
				})
			}
			close(start)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
					continue
				}
				require.ErrorIs(t, err, actors.ErrLastAdmin, "round %d", i)
			}
			require.Equal(t, 1, ok, "round %d: exactly one of the two leaves", i)
			require.Equal(t, 1, activeAdmins(t, b, x, y), "round %d", i)
			// The survivor goes quietly so the next round starts with two.
			for j, id := range []string{x, y} {
				if errs[j] != nil {
					require.NoError(t, b.Commit(ctx, actors.Commit{UserUpdates: []actors.UserUpdate{{ID: id, Active: ptr(false)}}}))
				}
			}
		}
	})
}

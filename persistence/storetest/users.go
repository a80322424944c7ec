package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

func testUsers(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Run("EmailUniqueIgnoringCase", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		first := userCommit("u1", "Ada@Example.com", actors.RoleCustomer)
		require.NoError(t, b.Commit(ctx, first))

		err := b.Commit(ctx, userCommit("u2", "ada@EXAMPLE.COM", actors.RoleCustomer))
		require.ErrorIs(t, err, actors.ErrEmailTaken)
		_, err = b.GetUser(ctx, "u2")
		require.ErrorIs(t, err, persistence.ErrNotFound)
		l, err := b.Load(ctx, actors.KindUser, "u2")
		require.NoError(t, err)
		require.Empty(t, l.Events, "a refused registration journals nothing")

		for _, email := range []string{"Ada@Example.com", "ada@example.com", "ADA@EXAMPLE.COM"} {
			u, err := b.GetUserByEmail(ctx, email)
			require.NoError(t, err, email)
			require.Equal(t, persistence.User{UserRow: first.Users[0]}, u)
		}
		u, err := b.GetUser(ctx, "u1")
		require.NoError(t, err)
		require.Equal(t, first.Users[0], u.UserRow)

		_, err = b.GetUserByEmail(ctx, "bob@example.com")
		require.ErrorIs(t, err, persistence.ErrNotFound)
		_, err = b.GetUser(ctx, "nobody")
		require.ErrorIs(t, err, persistence.ErrNotFound)
	})

	t.Run("TokensRevokedSince", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		for _, id := range []string{"r1", "r2", "r3"} {
			require.NoError(t, b.Commit(ctx, userCommit(id, id+"@example.com", actors.RoleCustomer)))
		}
		got, err := b.TokensRevokedSince(ctx, base.Add(-time.Hour))
		require.NoError(t, err)
		require.Empty(t, got, "nobody revoked yet")
		revoke := func(id string, at time.Time) {
			require.NoError(t, b.Commit(ctx, actors.Commit{TokensRevoked: []actors.TokenRevocation{{UserID: id, Before: at}}}))
		}
		revoke("r1", base.Add(time.Second+123*time.Millisecond))
		revoke("r2", base.Add(-2*time.Hour))
		revoke("r3", base.Add(5*time.Second))
		revoke("r3", base.Add(2*time.Second)) // never moves back
		got, err = b.TokensRevokedSince(ctx, base.Add(-time.Hour))
		require.NoError(t, err)
		require.Equal(t, map[string]time.Time{
			"r1": base.Add(time.Second + 123*time.Millisecond),
			"r3": base.Add(5 * time.Second),
		}, got, "r2's revocation is older than since")
		revoke("unknown", base) // a user that does not exist: nothing
		got, err = b.TokensRevokedSince(ctx, base.Add(-time.Hour))
		require.NoError(t, err)
		require.Len(t, got, 2)
	})
	t.Run("ListUsers", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		for _, u := range []struct{ id, email, role string }{
			{"lu1", "ada@example.com", actors.RoleCustomer},
			{"lu2", "Bob.Smith@Example.com", actors.RoleDriver},
			{"lu3", "carol@example.org", actors.RoleAdmin},
			{"lu4", "dave_50%@example.com", actors.RoleCustomer},
			{"lu5", "erin@example.com", actors.RoleCustomer},
		} {
			require.NoError(t, b.Commit(ctx, userCommit(u.id, u.email, u.role)))
		}
		ids := func(f persistence.UserFilter) ([]string, bool) {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 10
			}
			us, more, err := b.ListUsers(ctx, f)
			require.NoError(t, err)
			var out []string
			for _, u := range us {
				if strings.HasPrefix(u.ID, "lu") {
					out = append(out, u.ID)
				}
			}
			return out, more
		}
		got, _ := ids(persistence.UserFilter{Role: actors.RoleCustomer})
		require.Equal(t, []string{"lu1", "lu4", "lu5"}, got)
		got, _ = ids(persistence.UserFilter{Query: "SMITH"})
		require.Equal(t, []string{"lu2"}, got, "the e-mail, ignoring case")
		got, _ = ids(persistence.UserFilter{Query: "name lu3"})
		require.Equal(t, []string{"lu3"}, got, "the name")
		got, _ = ids(persistence.UserFilter{Query: "50%"})
		require.Equal(t, []string{"lu4"}, got, "% is a character, not a wildcard")
		got, _ = ids(persistence.UserFilter{Query: "_"})
		require.Equal(t, []string{"lu4"}, got, "so is _")
		got, _ = ids(persistence.UserFilter{Query: "example.com", Role: actors.RoleCustomer})
		require.Equal(t, []string{"lu1", "lu4", "lu5"}, got)
		page, more := ids(persistence.UserFilter{Limit: 2, After: "lu1"})
		require.Equal(t, []string{"lu2", "lu3"}, page)
		require.True(t, more)
		page, more = ids(persistence.UserFilter{Limit: 2, After: "lu3"})
		require.Equal(t, []string{"lu4", "lu5"}, page)
		require.False(t, more)
	})
	t.Run("UserUpdates", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		require.NoError(t, b.Commit(ctx, userCommit("uu1", "uu1@example.com", actors.RoleCustomer)))
		name, hash, off := "New Name", "hash-2", false
		require.NoError(t, b.Commit(ctx, actors.Commit{UserUpdates: []actors.UserUpdate{{ID: "uu1", Name: &name}}}))
		require.NoError(t, b.Commit(ctx, actors.Commit{UserUpdates: []actors.UserUpdate{{ID: "uu1", PasswordHash: &hash, Active: &off}}}))
		u, err := b.GetUser(ctx, "uu1")
		require.NoError(t, err)
		require.Equal(t, "New Name", u.Name)
		require.Equal(t, "+49 30 uu1", u.Phone, "a field not set stays")
		require.Equal(t, "hash-2", u.PasswordHash)
		require.True(t, u.Inactive)
		on := true
		require.NoError(t, b.Commit(ctx, actors.Commit{UserUpdates: []actors.UserUpdate{{ID: "uu1", Active: &on}}}))
		u, err = b.GetUserByEmail(ctx, "UU1@example.com")
		require.NoError(t, err)
		require.False(t, u.Inactive)
	})
	t.Run("DriverSlots", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		addDriver(t, b, "ds1", 2, true)
		addDriver(t, b, "ds2", 1, false)
		require.NoError(t, b.Commit(ctx, userCommit("ds-customer", "dsc@example.com", actors.RoleCustomer)))
		// One order's reservation on ds1.
		c := withLoad(actors.Commit{Events: []actors.Event{{Kind: actors.KindOrder, EntityID: "ds-o1", Seq: 1,
			Type: "order.assigned", Payload: []byte("x"), CommandID: "ds-o1-1", At: t0}}}, "ds1")
		require.NoError(t, b.Commit(ctx, c))
		got, err := b.DriverSlots(ctx, []string{"ds1", "ds2", "ds-customer", "nobody"})
		require.NoError(t, err)
		require.Equal(t, map[string]persistence.DriverSlot{
			"ds1": {Available: true, Capacity: 2, ActiveOrders: 1},
			"ds2": {Available: false, Capacity: 1},
		}, got, "a customer and an unknown id are not drivers")
		got, err = b.DriverSlots(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("AdminIDs", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		ids, err := b.AdminIDs(ctx)
		require.NoError(t, err)
		require.Empty(t, ids, "no users, no admins")

		for _, u := range []struct{ id, role string }{
			{"adm-b", actors.RoleAdmin}, {"cust-1", actors.RoleCustomer}, {"adm-a", actors.RoleAdmin},
			{"drv-1", actors.RoleDriver}, {"adm-C", actors.RoleAdmin}, {"sys-1", actors.RoleSystem},
		} {
			require.NoError(t, b.Commit(ctx, userCommit(u.id, u.id+"@example.com", u.role)))
		}
		ids, err = b.AdminIDs(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"adm-C", "adm-a", "adm-b"}, ids, "admins only, by id (bytewise)")
	})

	t.Run("AdminIDsAtMostMax", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		var want []string
		var c actors.Commit
		for i := range persistence.MaxAdminIDs + 5 {
			u := userCommit(fmt.Sprintf("adm-%04d", i), fmt.Sprintf("adm-%04d@example.com", i), actors.RoleAdmin)
			c.Events, c.Users = append(c.Events, u.Events...), append(c.Users, u.Users...)
			want = append(want, u.Users[0].ID)
		}
		require.NoError(t, b.Commit(ctx, c))
		slices.Sort(want)
		ids, err := b.AdminIDs(ctx)
		require.NoError(t, err)
		require.Equal(t, want[:persistence.MaxAdminIDs], ids)
	})
}

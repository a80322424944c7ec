package storetest

import (
	"testing"

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
}

package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

// testUserRole: a UserUpdate's Role moves the account's role; a driver
// record whose account is no longer a driver's stays but is not listed.
func testUserRole(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Parallel()
	b, ctx := open(t), t.Context()
	addDriver(t, b, "ro-d1", 1, false)
	addDriver(t, b, "ro-d2", 1, false)
	customer := actors.RoleCustomer
	require.NoError(t, b.Commit(ctx, actors.Commit{
		Events:      []actors.Event{{Kind: actors.KindUser, EntityID: "ro-d1", Seq: 2, Type: "user.role_changed", Payload: []byte("x"), At: t0}},
		UserUpdates: []actors.UserUpdate{{ID: "ro-d1", Role: &customer}},
	}))
	u, err := b.GetUser(ctx, "ro-d1")
	require.NoError(t, err)
	require.Equal(t, actors.RoleCustomer, u.Role)
	require.Equal(t, "ro-d1@example.com", u.Email, "nothing else moves")
	_, err = b.GetDriver(ctx, "ro-d1")
	require.ErrorIs(t, err, persistence.ErrNotFound)
	ds, _, err := b.ListDrivers(ctx, persistence.DriverFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, "ro-d2", ds[0].ID)
	slots, err := b.DriverSlots(ctx, []string{"ro-d1"})
	require.NoError(t, err)
	require.False(t, slots["ro-d1"].Available, "the record stays, unavailable")
}

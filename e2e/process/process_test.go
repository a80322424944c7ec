package process_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/internal/fleet/fleettest"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
	"github.com/stretchr/testify/require"
)

// The admin of the fleets of newFleet.
const (
	adminEmail    = "admin@kill.test"
	adminPassword = "admin-password"
)

// newFleet returns a fleet for the test's nodes (none started yet): one
// schema, NATS namespace and stream, this package's admin, children built
// with -race and any race report failing the test. env goes to every node.
func newFleet(t *testing.T, name, provider string, env map[string]string) *fleet.Fleet {
	t.Helper()
	return fleettest.New(t, fleettest.Options{Options: fleet.Options{
		Name: name, Provider: provider, AdminEmail: adminEmail, AdminPassword: adminPassword, Env: env,
	}})
}

// deadlineRows returns a counter of fleet f's deadline rows of kind ("":
// every kind), read straight from its schema: a row goes once its
// deadline has fired and its entity answered.
func deadlineRows(t *testing.T, f *fleet.Fleet, kind string) func() int {
	t.Helper()
	db, err := pgx.Connect(t.Context(), pgtest.URL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	query := fmt.Sprintf(`SELECT count(*) FROM %s.deadlines WHERE $1 = '' OR kind = $1`, pgx.Identifier{f.Settings().Schema}.Sanitize())
	return func() int {
		var n int
		require.NoError(t, db.QueryRow(t.Context(), query, kind).Scan(&n))
		return n
	}
}

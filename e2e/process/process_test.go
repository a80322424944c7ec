package process_test

import (
	"testing"

	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/internal/fleet/fleettest"
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

package fleet_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/internal/fleet/fleettest"
)

// TestFleetKillOne starts two automanaged nodes, kills one with SIGKILL
// and checks the other stays ready and serves; the killed one comes back
// on Restart with the same address.
func TestFleetKillOne(t *testing.T) {
	f := fleettest.New(t, fleettest.Options{Options: fleet.Options{Provider: fleet.ProviderAutoManaged}})
	if _, err := f.Reserve("node2"); err != nil { // in node1's seed list
		t.Fatal(err)
	}
	n1, err := f.Start("node1", nil)
	require.NoError(t, err)
	n2, err := f.Start("node2", nil)
	require.NoError(t, err)
	fleettest.WaitReady(t, n1, n2)
	require.NotEqual(t, n1.Addr(), n2.Addr())

	ctx := t.Context()
	admin, err := f.Admin(ctx, n2)
	require.NoError(t, err)
	require.NotEmpty(t, admin.Token)

	require.NoError(t, n1.Kill())
	require.False(t, n1.Running())
	require.NotNil(t, n1.ExitState())
	// Node 2 answers ready throughout the time automanaged takes to notice
	// (1 s poll) and a little more, and serves a request afterwards.
	hc := &http.Client{Timeout: 2 * time.Second}
	for until := time.Now().Add(3 * time.Second); time.Now().Before(until); {
		resp, err := hc.Get(n2.URL() + "/readyz")
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "node2 /readyz after node1's kill")
	}
	r, err := n2.Client().Do(ctx, http.MethodGet, "/v1/me", admin.Token, nil)
	require.NoError(t, err)
	require.NoError(t, r.Want(http.StatusOK))

	require.NoError(t, n1.Restart())
	require.NoError(t, n1.WaitReady(context.Background(), time.Minute))
	require.Equal(t, 2, n1.Runs())
	require.Len(t, n1.LogPaths(), 2)
	require.Len(t, f.Running(), 2)
}

package fleet_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/internal/fleet/fleettest"
)

// TestFleetChurn puts a cluster through what operators do to it — a kill
// -9, the killed node's rejoin, a node added, a rolling restart — while
// clients create and read orders through every node, and fails on any
// data race a node reports (its children are built with -race). Membership
// changes under load are where Proto.Actor raced (third_party/protoactor-go
// PATCHES.md, patches 4–6); requests failing while the topology settles
// are logged, not judged here.
func TestFleetChurn(t *testing.T) {
	// The nats membership, serve's default: n4 joins with nothing listed.
	f := fleettest.New(t, fleettest.Options{Options: fleet.Options{Name: "churn"}})
	names := []string{"n1", "n2", "n3", "n4"}
	var nodes []*fleet.Node
	for _, name := range names[:3] {
		n, err := f.Start(name, nil)
		require.NoError(t, err)
		nodes = append(nodes, n)
	}
	fleettest.WaitReady(t, nodes...)
	admin, err := f.Admin(t.Context(), nodes[0])
	require.NoError(t, err)

	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() { churnLoad(f, names, i, admin, stop, &ok, &failed) })
	}
	defer func() { close(stop); wg.Wait() }()

	// progress waits until the clients have made n more successful
	// requests: the cluster serves between the steps.
	progress := func(step string, n int64) {
		t.Helper()
		target := ok.Load() + n
		deadline := time.Now().Add(90 * time.Second)
		for ok.Load() < target {
			require.True(t, time.Now().Before(deadline), "%s: %d successful requests within 90s (ok %d, failed %d)", step, n, ok.Load(), failed.Load())
			<-time.After(20 * time.Millisecond)
		}
		t.Logf("%s: %d requests ok, %d failed so far", step, ok.Load(), failed.Load())
	}
	progress("3 nodes", 200)
	require.NoError(t, nodes[0].Kill())
	progress("n1 killed", 200)
	require.NoError(t, nodes[0].Restart())
	fleettest.WaitReady(t, nodes[0])
	progress("n1 rejoined", 200)
	n4 := fleettest.Start(t, f, "n4", nil)
	nodes = append(nodes, n4)
	progress("n4 added", 200)
	for _, n := range nodes {
		require.NoError(t, n.Restart()) // SIGTERM, then start again
		fleettest.WaitReady(t, n)
		progress(n.Name()+" restarted", 100)
	}
}

// churnLoad creates an order and reads it back, through node i, i+1, …
// in turn (skipping nodes not started or down), until stop is closed.
func churnLoad(f *fleet.Fleet, names []string, i int, admin fleet.Session, stop <-chan struct{}, ok, failed *atomic.Int64) {
	ctx := context.Background()
	order := map[string]any{"pickup": map[string]any{"address": "A"}, "dropoff": map[string]any{"address": "B"}, "delivery_option": "standard"}
	for j := i; ; j++ {
		select {
		case <-stop:
			return
		default:
		}
		n := f.Node(names[j%len(names)])
		if n == nil || !n.Running() { // not started yet, or down
			continue
		}
		c := n.Client()
		c.HTTP.Timeout = 5 * time.Second
		r, err := c.Do(ctx, http.MethodPost, "/v1/orders", admin.Token, order)
		if err == nil && r.Status == http.StatusCreated {
			var o struct{ ID string }
			if err = r.Decode(&o); err == nil {
				r, err = c.Do(ctx, http.MethodGet, "/v1/orders/"+o.ID, admin.Token, nil)
			}
		}
		if err == nil && r.Status == http.StatusOK {
			ok.Add(1)
		} else {
			failed.Add(1)
		}
	}
}

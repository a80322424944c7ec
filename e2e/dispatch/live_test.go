package dispatch_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/persistence/postgres"
	"github.com/outrider/outrider/wire"
)

var jobCopiesDropped = regexp.MustCompile(`(?m)^outrider_ws_job_copies_dropped_total (\S+)$`)

// jobCopies is the node's count of job copies its gateway dropped.
func jobCopies(t *testing.T, a *e2e.API) float64 {
	t.Helper()
	body := string(a.Anon().Get(t, "/metrics").RequireStatus(t, 200).Body)
	m := jobCopiesDropped.FindStringSubmatch(body)
	require.NotNil(t, m, "no outrider_ws_job_copies_dropped_total in /metrics")
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

// relayed waits until the outbox relay has published every committed
// message, so that the relay's copy of each job has reached the gateway
// (core NATS delivers a node's publishes in order: the copies come
// before anything the test sends after this).
func relayed(t *testing.T, n *app.Node) {
	t.Helper()
	e2e.Eventually(t, 10*time.Second, func() bool {
		left, err := n.Store().UnpublishedOutbox(context.Background(), 1)
		require.NoError(t, err)
		return len(left) == 0
	}, "the relay publishes the outbox")
}

// A job travels to the driver's gateway twice — live from the committing
// node and again from the outbox relay — and reaches his socket once.
func TestEachJobReachesTheSocketOnce(t *testing.T) {
	n, a := e2e.Up(t, apiOnly)
	customer := a.Signup(t)
	drv := a.CreateDriver(t, 1, true)
	ws := dialDriver(t, n, drv)
	channel := "user:" + drv.ID()
	before := jobCopies(t, a)

	o := customer.CreateOrder(t)
	a.Admin.Assign(t, o.ID, drv.ID())
	ev, job := nextJob(t, ws)
	require.Equal(t, wire.JobOffered, ev)
	require.Equal(t, wire.JobEventID(o.ID, 2), job.ID)
	relayed(t, n)
	ws.Quiet(channel)

	a.Admin.OrderAction(t, o.ID, "unassign", nil)
	ev, job = nextJob(t, ws)
	require.Equal(t, wire.JobWithdrawn, ev)
	require.Equal(t, "unassigned", job.Reason)
	relayed(t, n)
	ws.Quiet(channel)

	// Both copies of both jobs came: the gateway dropped the second ones.
	e2e.Eventually(t, 10*time.Second, func() bool { return jobCopies(t, a)-before >= 2 },
		"the gateway drops the second copy of each job")
}

// With the relay kept from leading (the test holds its leadership, so no
// relay publishes anything), the live copy alone brings the offer, and
// the socket's accept settles it.
func TestTheLiveCopyAloneBringsTheOffer(t *testing.T) {
	n, a := e2e.Up(t, func(c *app.Config) {
		apiOnly(c)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := postgres.Open(ctx, c.PGURL, postgres.Options{Schema: c.PGSchema})
		require.NoError(t, err)
		_, release, ok, err := st.Leader(app.RelayLeadership).TryLead(ctx)
		require.NoError(t, err)
		require.True(t, ok, "the test leads the relay of a schema no node uses yet")
		t.Cleanup(func() { release(); st.Close() })
	})
	customer := a.Signup(t)
	drv := a.CreateDriver(t, 1, true)
	ws := dialDriver(t, n, drv)
	o := customer.CreateOrder(t)
	a.Admin.Assign(t, o.ID, drv.ID())
	ev, job := nextJob(t, ws)
	require.Equal(t, wire.JobOffered, ev)
	require.Equal(t, o.ID, job.OrderID)
	ack := ws.Ask(map[string]any{"type": "accept", "order_id": o.ID})
	require.Equal(t, "ack", ack.Type, "%s", ack.Raw)
	require.Equal(t, "accepted", a.Admin.Order(t, o.ID).Status)
	left, err := n.Store().UnpublishedOutbox(context.Background(), 100)
	require.NoError(t, err)
	require.NotEmpty(t, left, "no relay published the job: the live copy brought it")
}

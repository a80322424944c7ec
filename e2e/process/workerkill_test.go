package process_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/internal/fleet/fleettest"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
	"github.com/outrider/outrider/worker/webhook/webhooktest"
)

// TestWorkerSurvivesKill9: a worker process killed with -9 mid-stream and
// restarted leaves every notification created exactly once, every event
// delivered to the webhook at least once (with its event id), and no
// message unacked or dead-lettered.
func TestWorkerSurvivesKill9(t *testing.T) {
	const (
		drivers         = 4
		ordersPerDriver = 8
		eventsPerOrder  = 6 // created, assigned, accepted, picked_up, in_transit, delivered
		// notifications per order: the customer hears of 5 events (not the
		// creation they made), the driver of the assignment.
		notificationsPerOrder = 6
	)
	// Each node is a cluster of its own (provider local): the worker's
	// kill must not take actors of the API node with it; this test is
	// about the worker's JetStream consumers, not cluster failover.
	f := newFleet(t, "wkill", "", map[string]string{"OUTRIDER_CLUSTER_PROVIDER": "local"})
	schema, stream := f.Settings().Schema, f.Settings().Stream
	workerEnv := map[string]string{
		"OUTRIDER_ROLES": "worker", "OUTRIDER_WORKER_ACK_WAIT": "5s", "OUTRIDER_WEBHOOK_TIMEOUT": "3s",
		// A machine loaded by parallel tests may time a delivery out; it
		// must then be retried soon, and the endpoint never disabled.
		"OUTRIDER_WORKER_RETRY_BASE": "100ms", "OUTRIDER_WORKER_RETRY_MAX": "1s", "OUTRIDER_WEBHOOK_FAILURE_LIMIT": "100000",
		"OUTRIDER_WEBHOOK_MAX_ATTEMPTS":  "1000",
		"OUTRIDER_WEBHOOK_ALLOW_PRIVATE": "true", // the receiver is on loopback
	}
	apiNode := fleettest.Start(t, f, "api", map[string]string{"OUTRIDER_ROLES": "api"})
	a := e2e.ConnectNode(t, f, apiNode)

	rcv := webhooktest.Start(t)
	var hook struct{ Secret string }
	a.Admin.Post(t, "/v1/webhooks", map[string]any{"url": rcv.URL, "event_types": []string{"*"}}).Decode(t, http.StatusCreated, &hook)
	rcv.SetSecret(hook.Secret, false)

	customer := a.Signup(t)
	driverCallers := make([]*e2e.Caller, drivers)
	for i := range drivers {
		driverCallers[i] = a.CreateDriver(t, 0, true)
	}

	db, err := pgx.Connect(t.Context(), pgtest.URL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	notifications := func() (total, distinct int) {
		require.NoError(t, db.QueryRow(t.Context(), fmt.Sprintf(
			`SELECT count(*), count(DISTINCT (user_id, event_id)) FROM %s.notifications`, pgx.Identifier{schema}.Sanitize())).
			Scan(&total, &distinct))
		return total, distinct
	}

	workerNode := fleettest.Start(t, f, "worker", workerEnv)
	// Drive the lifecycles while the worker works; kill it once it has
	// made some notifications, go on driving while it is dead, restart it.
	// The drivers' goroutines report to GoTs of their own (FailNow ends
	// only the goroutine), checked once they are done.
	var wg sync.WaitGroup
	var orderIDs sync.Map
	gts := make([]*e2e.GoT, drivers)
	for i := range drivers {
		gts[i] = e2e.NewGoT(t.Context())
		wg.Go(func() {
			g, d := gts[i], driverCallers[i]
			for range ordersPerDriver {
				o := customer.CreateOrder(g)
				orderIDs.Store(o.ID, true)
				a.Deliver(g, o.ID, d)
			}
		})
	}
	require.Eventually(t, func() bool { n, _ := notifications(); return n >= 30 }, 60*time.Second, 20*time.Millisecond)
	before, _ := notifications()
	require.NoError(t, workerNode.Kill())
	wg.Wait()
	for i, g := range gts {
		require.Empty(t, g.Failures(), "driver %d's lifecycles", i)
	}
	atKill, _ := notifications()
	t.Logf("killed the worker at %d notifications (%d when the kill landed); %d expected in all",
		before, atKill, drivers*ordersPerDriver*notificationsPerOrder)
	require.Less(t, atKill, drivers*ordersPerDriver*notificationsPerOrder, "the kill came too late to prove anything")
	require.NoError(t, workerNode.Restart())
	fleettest.WaitReady(t, workerNode)

	wantEvents := map[string]bool{}
	orderIDs.Range(func(k, _ any) bool {
		for seq := 1; seq <= eventsPerOrder; seq++ {
			wantEvents[fmt.Sprintf("order:%s:%d", k, seq)] = true
		}
		return true
	})
	require.Len(t, wantEvents, drivers*ordersPerDriver*eventsPerOrder)
	nc, err := nats.Connect(f.Settings().NATSURL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	consumers := [][2]string{
		{stream, stream + "-notifications"}, {stream, stream + "-webhook-fanout"},
		{stream + "_WEBHOOKS", stream + "-webhook-delivery"},
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		total, distinct := notifications()
		assert.Equal(c, drivers*ordersPerDriver*notificationsPerOrder, total, "every notification, once")
		assert.Equal(c, total, distinct)
		got, bad := rcv.Delivered()
		assert.Zero(c, bad, "every delivery verified")
		for id := range wantEvents {
			assert.GreaterOrEqual(c, got[id], 1, "event %s delivered", id)
		}
		for _, sc := range consumers {
			info, err := js.Consumer(t.Context(), sc[0], sc[1])
			if !assert.NoError(c, err) {
				continue
			}
			i, err := info.Info(t.Context())
			if assert.NoError(c, err) {
				assert.Zero(c, i.NumAckPending, "%s: unacked", sc[1])
				assert.Zero(c, i.NumPending, "%s: undelivered", sc[1])
			}
		}
	}, 90*time.Second, 250*time.Millisecond)

	dlq, err := js.Stream(t.Context(), stream+"_DLQ")
	require.NoError(t, err)
	info, err := dlq.Info(t.Context())
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs, "nothing dead-lettered")
	got, _ := rcv.Delivered()
	dups := 0
	for _, n := range got {
		dups += n - 1
	}
	t.Logf("webhook: %d events delivered, %d redelivered after the kill (receivers de-duplicate on the event id)", len(got), dups)
}

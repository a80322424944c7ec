package invariants_test

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/host"
	"github.com/outrider/outrider/e2e"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// TestStaleActivationRefusesNothingUnderAnIdempotencyKey: the node's own
// activation of an order holds version 1 (it created the order) when a
// second activation elsewhere — here a second host on the same store, what
// a node with another view of the membership runs — assigns a driver. The
// driver's accept, with an Idempotency-Key, reaches the node's stale
// activation. It must be accepted (DESIGN.md §8: no refusal from stale
// state), the key must replay that 200, never a refusal, and the node
// counts one refusal re-decided.
func TestStaleActivationRefusesNothingUnderAnIdempotencyKey(t *testing.T) {
	n, a := e2e.Up(t, nil)
	drv := a.CreateDriver(t, 1, true)
	orderID := a.Signup(t).CreateOrder(t).ID // the node's activation now holds version 1

	// The other activation assigns the driver: version 2 in the store.
	other := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	t.Cleanup(other.Shutdown)
	h := host.New(host.Config{Store: n.Store(), Logger: slog.New(slog.DiscardHandler)})
	pid := other.Root.Spawn(h.OrderProps())
	other.Root.Send(pid, &pcluster.ClusterInit{Identity: pcluster.NewClusterIdentity(orderID, actors.KindOrder)})
	res, err := other.Root.RequestFuture(pid, &pb.OrderCommand{
		CommandId: ulid.Make().String(), AtMs: time.Now().UnixMilli(),
		By:   &pb.Principal{UserId: "usr_admin", Role: actors.RoleAdmin},
		Body: &pb.OrderCommand_Assign{Assign: &pb.AssignDriver{DriverId: drv.ID(), OfferExpiresAtMs: time.Now().Add(time.Minute).UnixMilli()}},
	}, 15*time.Second).Result()
	require.NoError(t, err)
	require.Nil(t, res.(*pb.OrderReply).GetRejection())
	require.Equal(t, int64(2), res.(*pb.OrderReply).GetOrder().GetVersion())

	accept := func() *e2e.Response {
		return drv.Post(t, "/v1/orders/"+orderID+"/accept", nil, e2e.IdempotencyKey("accept-"+orderID))
	}
	r := accept()
	require.Equal(t, http.StatusOK, r.Status, "the assigned driver's accept: %s", r)
	var o wire.Order
	r.Decode(t, http.StatusOK, &o)
	require.Equal(t, "accepted", o.Status)
	require.Equal(t, int64(3), o.Version)

	r = accept()
	require.Equal(t, http.StatusOK, r.Status, "the key replays the accept, not a refusal: %s", r)
	require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"))

	metrics := a.Anon().Get(t, "/metrics").RequireStatus(t, http.StatusOK)
	require.Contains(t, string(metrics.Body), `outrider_actor_refusals_redecided_total{kind="order"} 1`)
}

package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
	n := e2e.Start(t, nil)
	api := newClient(n.Addr())
	w := &world{api: api}
	var tk tokens
	api.must(t, http.MethodPost, "/v1/auth/login", "",
		map[string]string{"email": e2e.AdminEmail, "password": e2e.AdminPassword}, http.StatusOK, &tk)
	w.admin = tk.AccessToken
	api.must(t, http.MethodPost, "/v1/auth/signup", "",
		map[string]string{"name": "Cass", "email": "stale-customer@outrider.test", "password": "customer-password"},
		http.StatusCreated, &tk)
	w.customer = tk.AccessToken
	driverID, err := w.driver(1, "stale-driver@outrider.test")
	require.NoError(t, err)
	api.must(t, http.MethodPost, "/v1/auth/login", "",
		map[string]string{"email": "stale-driver@outrider.test", "password": "driver-password"}, http.StatusOK, &tk)
	driverToken := tk.AccessToken
	orderID := w.newOrder(t) // the node's activation now holds version 1

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
		Body: &pb.OrderCommand_Assign{Assign: &pb.AssignDriver{DriverId: driverID}},
	}, 15*time.Second).Result()
	require.NoError(t, err)
	require.Nil(t, res.(*pb.OrderReply).GetRejection())
	require.Equal(t, int64(2), res.(*pb.OrderReply).GetOrder().GetVersion())

	accept := func() (int, string, string) {
		req, err := http.NewRequest(http.MethodPost, "http://"+n.Addr()+"/v1/orders/"+orderID+"/accept", bytes.NewReader(nil))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+driverToken)
		req.Header.Set("Idempotency-Key", "accept-"+orderID)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b), resp.Header.Get("Idempotent-Replayed")
	}
	status, body, _ := accept()
	require.Equal(t, http.StatusOK, status, "the assigned driver's accept: %s", body)
	var o orderJSON
	require.NoError(t, json.Unmarshal([]byte(body), &o))
	require.Equal(t, "accepted", o.Status)
	require.Equal(t, int64(3), o.Version)

	status, body, replayed := accept()
	require.Equal(t, http.StatusOK, status, "the key replays the accept, not a refusal: %s", body)
	require.Equal(t, "true", replayed)

	metrics := get(t, "http://"+n.Addr()+"/metrics")
	require.Contains(t, metrics, `outrider_actor_refusals_redecided_total{kind="order"} 1`)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return strings.TrimSpace(string(b))
}

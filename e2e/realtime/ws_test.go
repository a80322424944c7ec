package realtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/transport/ws"
)

// delivered are the events of e2e.API.Deliver, seqs 2 to 6 of the order:
// assigned, accepted, then picked_up, in_transit and delivered.
var delivered = []string{"order.assigned", "order.accepted",
	"order.status_changed", "order.status_changed", "order.status_changed"}

var ping = map[string]any{"type": "ping"}

func TestWatcherSeesLifecycleInOrder(t *testing.T) {
	n, a := e2e.Up(t, nil)
	cust := a.Signup(t)
	drv := a.CreateDriver(t, 0, true)
	id := cust.CreateOrder(t).ID

	c := e2e.Dial(t, "customer", n.Addr(), cust.Token, nil)
	c.Subscribe("order:"+id, nil)
	a.Deliver(t, id, drv)
	c.Expect("order:"+id, 2, delivered...)
}

func TestResumeAfterDropGetsExactlyTheMissedEvents(t *testing.T) {
	n, a := e2e.Up(t, nil)
	cust := a.Signup(t)
	drv := a.CreateDriver(t, 0, true)
	id := cust.CreateOrder(t).ID
	ch := "order:" + id

	c := e2e.Dial(t, "customer", n.Addr(), cust.Token, nil)
	c.Subscribe(ch, nil)
	a.Admin.Assign(t, id, drv.ID())
	drv.OrderAction(t, id, "accept", nil)
	got := c.Expect(ch, 2, "order.assigned", "order.accepted")
	require.NoError(t, c.Conn.Close())

	// Changes while the client is away.
	drv.SetStatus(t, id, "picked_up")
	drv.SetStatus(t, id, "in_transit")

	c2 := e2e.Dial(t, "customer again", n.Addr(), cust.Token, nil)
	last := got[len(got)-1].Version // the seq of the last event received
	c2.Subscribe(ch, &last)
	c2.Expect(ch, 4, "order.status_changed", "order.status_changed")
	drv.SetStatus(t, id, "delivered")
	// Live after the replay, no duplicate at the seam.
	c2.Expect(ch, 6, "order.status_changed")

	// since 0 replays the whole history.
	c3 := e2e.Dial(t, "customer from 0", n.Addr(), cust.Token, nil)
	zero := int64(0)
	c3.Subscribe(ch, &zero)
	c3.Expect(ch, 1, append([]string{"order.created"}, delivered...)...)
}

func TestChannelAccessFollowsTheHTTPRules(t *testing.T) {
	n, a := e2e.Up(t, nil)
	owner, other := a.Signup(t), a.Signup(t)
	drv := a.CreateDriver(t, 0, true)
	id := owner.CreateOrder(t).ID

	for _, tc := range []struct {
		name string
		as   *e2e.Caller
		want string
	}{
		{"owner", owner, "ack"},
		{"admin", a.Admin, "ack"},
		{"another customer", other, "not_found"},
		{"unassigned driver", drv, "not_found"},
		{"unknown order", owner, "not_found"},
		{"another user's channel", owner, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The answer to a subscribe to a user channel is on that
			// channel: only notifications are skipped.
			c := e2e.Dial(t, tc.name, n.Addr(), tc.as.Token, e2e.SkipNotifications)
			channel := "order:" + id
			switch tc.name {
			case "unknown order":
				channel = "order:ord_01M8A11C5Z0MKSNQRB1YJPHNA0"
			case "another user's channel":
				channel = "user:" + other.ID()
			}
			c.Send(map[string]any{"type": "subscribe", "channel": channel, "id": "x"})
			f := c.Must(5 * time.Second)
			if tc.want == "ack" {
				require.Equal(t, "ack", f.Type, "%s", f.Raw)
				return
			}
			require.Equal(t, "error", f.Type)
			require.Equal(t, tc.want, f.Code)
			require.Equal(t, "x", f.ID)
		})
	}

	// The driver may watch once assigned, and is told when the order is
	// taken away (decline).
	c := e2e.Dial(t, "driver", n.Addr(), drv.Token, nil)
	a.Admin.Assign(t, id, drv.ID())
	c.Subscribe("order:"+id, nil)
	drv.OrderAction(t, id, "decline", nil)
	f := c.Must(5 * time.Second)
	require.Equal(t, "error", f.Type, "%s", f.Raw)
	require.Equal(t, "forbidden", f.Code)
	require.Equal(t, "order:"+id, f.Channel)
	// The ended subscription is gone: subscribing again is answered as a
	// first subscribe would be (no longer his: not_found), and once the
	// order is his again it replays from since and goes live.
	f = c.Ask(map[string]any{"type": "subscribe", "channel": "order:" + id})
	require.Equal(t, "error", f.Type, "a subscription the node ended must not be acked as live: %s", f.Raw)
	require.Equal(t, "not_found", f.Code)
	a.Admin.Assign(t, id, drv.ID())
	since := int64(1)
	c.Subscribe("order:"+id, &since)
	c.Expect("order:"+id, 2, "order.assigned", "order.declined", "order.assigned")
	drv.OrderAction(t, id, "accept", nil)
	c.Expect("order:"+id, 5, "order.accepted")
}

func TestBadFramesGetErrorsAndKeepTheConnection(t *testing.T) {
	n, a := e2e.Up(t, nil)
	c := e2e.Dial(t, "customer", n.Addr(), a.Signup(t).Token, nil)
	for _, tc := range []struct {
		name, raw, code string
	}{
		{"not json", `hello`, "malformed_json"},
		{"json array", `[1,2]`, "malformed_json"},
		{"unknown type", `{"type":"teleport","id":"7"}`, "unknown_type"},
		{"unknown field", `{"type":"ping","colour":"red"}`, "validation_failed"},
		{"negative since", `{"type":"subscribe","channel":"order:x","since":-1}`, "validation_failed"},
		{"bad channel", `{"type":"subscribe","channel":"weather:today"}`, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, c.Conn.WriteMessage(websocket.TextMessage, []byte(tc.raw)))
			f := c.Must(5 * time.Second)
			require.Equal(t, "error", f.Type, "%s", f.Raw)
			require.Equal(t, tc.code, f.Code, "%s", f.Raw)
		})
	}
	c.Send(ping)
	require.Equal(t, "pong", c.Must(5*time.Second).Type, "the connection survives bad frames")
}

func TestOversizedFrameClosesWith1009(t *testing.T) {
	n, a := e2e.Up(t, func(cfg *app.Config) { cfg.WS.MaxMessageBytes = 512 })
	c := e2e.Dial(t, "customer", n.Addr(), a.Signup(t).Token, nil)
	big := `{"type":"ping","id":"` + strings.Repeat("x", 600) + `"}`
	require.NoError(t, c.Conn.WriteMessage(websocket.TextMessage, []byte(big)))
	require.Equal(t, websocket.CloseMessageTooBig, c.CloseCode(5*time.Second))
}

func TestUpgradeRefusesBadTokens(t *testing.T) {
	_, a := e2e.Up(t, nil)
	expired := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "usr_01M8A11C5Z0MKSNQRB1YJPHNA0", "role": "customer", "iss": "outrider", "aud": "outrider-api",
		"iat": time.Now().Add(-time.Hour).Unix(), "exp": time.Now().Add(-30 * time.Minute).Unix(),
	})
	sum := sha256.Sum256([]byte(e2e.JWTSecret))
	expired.Header["kid"] = hex.EncodeToString(sum[:4])
	tok, err := expired.SignedString([]byte(e2e.JWTSecret))
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		as    *e2e.Caller
		query string
	}{
		"expired bearer":  {a.As(tok), ""},
		"expired query":   {a.Anon(), "?access_token=" + tok},
		"no token":        {a.Anon(), ""},
		"forged in query": {a.Anon(), "?access_token=abc.def.ghi"},
	} {
		t.Run(name, func(t *testing.T) {
			r := tc.as.Upgrade(t, tc.query).RequireStatus(t, http.StatusUnauthorized)
			require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
		})
	}
	// A valid token in the query works (browsers).
	a.Anon().Upgrade(t, "?access_token="+a.Signup(t).Token).RequireStatus(t, http.StatusSwitchingProtocols)
}

func TestSlowConsumerIsCutOffWithBoundedQueue(t *testing.T) {
	n, a := e2e.Up(t, func(cfg *app.Config) {
		cfg.WS.SendQueueSize = 64
		cfg.WS.InboundRate, cfg.WS.InboundBurst = 1e9, 1e9
	})
	c := e2e.Dial(t, "slow", n.Addr(), a.Signup(t).Token, nil)
	// Ask for far more pongs than the socket buffers (and the client's
	// frame channel) hold, never reading: the server's queue fills and it
	// must cut the session off.
	raw := []byte(`{"type":"ping"}`)
	sent := 0
	for ; sent < 2_000_000; sent++ {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if err := c.Conn.WriteMessage(websocket.TextMessage, raw); err != nil {
			break
		}
		if sent%10_000 == 0 && strings.Contains(metrics(t, a), "outrider_ws_slow_consumers_total 1") {
			break
		}
	}
	// Drain what was buffered: the last frame must be the 4008 close.
	require.Equal(t, ws.CloseSlowConsumer, c.CloseCode(20*time.Second), "after %d pings", sent)
}

func TestLogoutClosesTheUsersSessionsAndRefusesTheirTokens(t *testing.T) {
	n, a := e2e.Up(t, nil)
	u, other := a.Signup(t), a.Signup(t)

	c1 := e2e.Dial(t, "session 1", n.Addr(), u.Token, nil)
	c2 := e2e.Dial(t, "session 2", n.Addr(), u.Token, nil)
	bystander := e2e.Dial(t, "bystander", n.Addr(), other.Token, nil)
	// The sessions are registered before the upgrade completes.
	u.Post(t, "/v1/auth/logout", map[string]string{"refresh_token": u.Refresh}).RequireStatus(t, http.StatusNoContent)
	for _, c := range []*e2e.WS{c1, c2} {
		require.Equal(t, ws.CloseUnauthorized, c.CloseCode(5*time.Second), c.Name)
	}
	// The same access token may not open a new session.
	a.Anon().Upgrade(t, "?access_token="+u.Token).RequireStatus(t, http.StatusUnauthorized)
	// Other users are untouched, and logging in again works at once.
	bystander.Send(ping)
	require.Equal(t, "pong", bystander.Must(5*time.Second).Type)
	again := a.Login(t, u.User.Email, u.Password)
	e2e.Dial(t, "again", n.Addr(), again.Token, nil).Send(ping)
}

func TestPushReachesEverySessionOfTheUser(t *testing.T) {
	n, a := e2e.Up(t, nil)
	cust, other := a.Signup(t), a.Signup(t)
	// The push is on the user's channel: only notifications are skipped.
	c1 := e2e.Dial(t, "session 1", n.Addr(), cust.Token, e2e.SkipNotifications)
	c2 := e2e.Dial(t, "session 2", n.Addr(), cust.Token, e2e.SkipNotifications)
	c3 := e2e.Dial(t, "another user", n.Addr(), other.Token, e2e.SkipNotifications)
	frame := `{"type":"event","channel":"user:` + cust.ID() + `","event":"job.offered","data":{"order_id":"x"}}`
	reply, err := n.Cluster().User(context.Background(), cust.ID(), &pb.UserCommand{
		By: &pb.Principal{UserId: "system", Role: "system"}, AtMs: time.Now().UnixMilli(),
		Body: &pb.UserCommand_Push{Push: &pb.Push{Frame: []byte(frame)}}})
	require.NoError(t, err)
	require.Nil(t, reply.GetRejection())
	for _, c := range []*e2e.WS{c1, c2} {
		f := c.Must(5 * time.Second)
		require.Equal(t, "job.offered", f.Event, c.Name)
		require.Equal(t, "user:"+cust.ID(), f.Channel, c.Name)
	}
	c3.Send(ping)
	require.Equal(t, "pong", c3.Must(5*time.Second).Type, "another user's session got nothing before its pong")
}

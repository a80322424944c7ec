package ws_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
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

func TestWatcherSeesLifecycleInOrder(t *testing.T) {
	n := e2e.Start(t, nil)
	a := newAPI(t, n)
	admin, cust := a.admin(), a.customer()
	drv := a.driver(admin)
	id := a.order(cust)

	c := dial(t, n, cust.token)
	c.subscribe("order:"+id, nil)
	a.lifecycle(id, admin, drv)
	got := c.events("order:"+id, 5)
	require.Equal(t, []int64{2, 3, 4, 5, 6}, seqs(got), names(got))
	require.Equal(t, "order.assigned", got[0].Event)
}

func TestResumeAfterDropGetsExactlyTheMissedEvents(t *testing.T) {
	n := e2e.Start(t, nil)
	a := newAPI(t, n)
	admin, cust := a.admin(), a.customer()
	drv := a.driver(admin)
	id := a.order(cust)
	ch := "order:" + id

	c := dial(t, n, cust.token)
	c.subscribe(ch, nil)
	a.do("POST", "/v1/orders/"+id+"/assign", admin.token, map[string]any{"driver_id": drv.id}, 200)
	a.do("POST", "/v1/orders/"+id+"/accept", drv.token, nil, 200)
	got := c.events(ch, 2)
	require.Equal(t, []int64{2, 3}, seqs(got))
	require.NoError(t, c.conn.Close())

	// Changes while the client is away.
	a.do("PUT", "/v1/orders/"+id+"/status", drv.token, map[string]any{"status": "picked_up"}, 200)
	a.do("PUT", "/v1/orders/"+id+"/status", drv.token, map[string]any{"status": "in_transit"}, 200)

	c2 := dial(t, n, cust.token)
	last := got[len(got)-1].Seq
	c2.subscribe(ch, &last)
	missed := c2.events(ch, 2)
	require.Equal(t, []int64{4, 5}, seqs(missed), names(missed))
	a.do("PUT", "/v1/orders/"+id+"/status", drv.token, map[string]any{"status": "delivered"}, 200)
	live := c2.events(ch, 1)
	require.Equal(t, []int64{6}, seqs(live), "live after the replay, no duplicate at the seam")

	// since 0 replays the whole history.
	c3 := dial(t, n, cust.token)
	zero := int64(0)
	c3.subscribe(ch, &zero)
	all := c3.events(ch, 6)
	require.Equal(t, []int64{1, 2, 3, 4, 5, 6}, seqs(all))
	require.Equal(t, "order.created", all[0].Event)
}

func TestChannelAccessFollowsTheHTTPRules(t *testing.T) {
	n := e2e.Start(t, nil)
	a := newAPI(t, n)
	admin, owner, other := a.admin(), a.customer(), a.customer()
	drv, otherDrv := a.driver(admin), a.driver(admin)
	id := a.order(owner)

	for _, tc := range []struct {
		name  string
		token string
		want  string
	}{
		{"owner", owner.token, "ack"},
		{"admin", admin.token, "ack"},
		{"another customer", other.token, "not_found"},
		{"unassigned driver", drv.token, "not_found"},
		{"unknown order", owner.token, "not_found"},
		{"another user's channel", owner.token, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, n, tc.token)
			channel := "order:" + id
			switch tc.name {
			case "unknown order":
				channel = "order:ord_01M8A11C5Z0MKSNQRB1YJPHNA0"
			case "another user's channel":
				channel = "user:" + other.id
			}
			c.send(map[string]any{"type": "subscribe", "channel": channel, "id": "x"})
			f := c.next(5 * time.Second)
			if tc.want == "ack" {
				require.Equal(t, "ack", f.Type, "%+v", f)
				return
			}
			require.Equal(t, "error", f.Type)
			require.Equal(t, tc.want, f.Code)
			require.Equal(t, "x", f.ID)
		})
	}

	// The driver may watch once assigned, and is told when the order is
	// taken away (decline).
	c := dial(t, n, drv.token)
	a.do("POST", "/v1/orders/"+id+"/assign", admin.token, map[string]any{"driver_id": drv.id}, 200)
	c.subscribe("order:"+id, nil)
	a.do("POST", "/v1/orders/"+id+"/decline", drv.token, nil, 200)
	f := c.next(5 * time.Second)
	require.Equal(t, "error", f.Type, "%+v", f)
	require.Equal(t, "forbidden", f.Code)
	require.Equal(t, "order:"+id, f.Channel)
	_ = otherDrv
}

func TestBadFramesGetErrorsAndKeepTheConnection(t *testing.T) {
	n := e2e.Start(t, nil)
	a := newAPI(t, n)
	cust := a.customer()
	c := dial(t, n, cust.token)
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
			require.NoError(t, c.conn.WriteMessage(websocket.TextMessage, []byte(tc.raw)))
			f := c.next(5 * time.Second)
			require.Equal(t, "error", f.Type, "%+v", f)
			require.Equal(t, tc.code, f.Code, "%+v", f)
		})
	}
	c.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", c.next(5*time.Second).Type, "the connection survives bad frames")
}

func TestOversizedFrameClosesWith1009(t *testing.T) {
	n := e2e.Start(t, func(cfg *app.Config) { cfg.WS.MaxMessageBytes = 512 })
	a := newAPI(t, n)
	c := dial(t, n, a.customer().token)
	big := `{"type":"ping","id":"` + strings.Repeat("x", 600) + `"}`
	require.NoError(t, c.conn.WriteMessage(websocket.TextMessage, []byte(big)))
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.CloseMessageTooBig, ce.Code)
}

func TestUpgradeRefusesBadTokens(t *testing.T) {
	n := e2e.Start(t, nil)
	expired := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "usr_01M8A11C5Z0MKSNQRB1YJPHNA0", "role": "customer", "iss": "outrider", "aud": "outrider-api",
		"iat": time.Now().Add(-time.Hour).Unix(), "exp": time.Now().Add(-30 * time.Minute).Unix(),
	})
	sum := sha256.Sum256([]byte(e2e.JWTSecret))
	expired.Header["kid"] = hex.EncodeToString(sum[:4])
	tok, err := expired.SignedString([]byte(e2e.JWTSecret))
	require.NoError(t, err)
	for name, url := range map[string]string{
		"expired bearer":  "",
		"expired query":   "?access_token=" + tok,
		"no token":        "",
		"forged in query": "?access_token=abc.def.ghi",
	} {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if name == "expired bearer" {
				h.Set("Authorization", "Bearer "+tok)
			}
			_, resp, err := websocket.DefaultDialer.Dial("ws://"+n.Addr()+"/v1/ws"+url, h)
			require.Error(t, err)
			require.NotNil(t, resp)
			defer resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		})
	}
	// A valid token in the query works (browsers).
	a := newAPI(t, n)
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+n.Addr()+"/v1/ws?access_token="+a.customer().token, nil)
	require.NoError(t, err)
	resp.Body.Close()
	conn.Close()
}

func TestSlowConsumerIsCutOffWithBoundedQueue(t *testing.T) {
	n := e2e.Start(t, func(cfg *app.Config) {
		cfg.WS.SendQueueSize = 64
		cfg.WS.InboundRate, cfg.WS.InboundBurst = 1e9, 1e9
	})
	a := newAPI(t, n)
	c := dial(t, n, a.customer().token)
	// Ask for far more pongs than the socket buffers hold, never reading:
	// the server's queue fills and it must cut the session off.
	ping := []byte(`{"type":"ping"}`)
	sent := 0
	for ; sent < 2_000_000; sent++ {
		_ = c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if err := c.conn.WriteMessage(websocket.TextMessage, ping); err != nil {
			break
		}
		if sent%10_000 == 0 && closedBy(c, n) {
			break
		}
	}
	// Drain what was buffered: the last frame must be the 4008 close.
	require.Equal(t, ws.CloseSlowConsumer, closeOf(t, c).Code, "after %d pings", sent)
}

// closedBy reports whether the node has counted a slow consumer.
func closedBy(c *client, n *app.Node) bool {
	resp, err := http.Get("http://" + n.Addr() + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(body), "outrider_ws_slow_consumers_total 1")
}

func TestLogoutClosesTheUsersSessionsAndRefusesTheirTokens(t *testing.T) {
	n := e2e.Start(t, nil)
	a := newAPI(t, n)
	email := fmt.Sprintf("logout-%d@example.com", time.Now().UnixNano())
	out := a.do("POST", "/v1/auth/signup", "", map[string]string{"name": "L", "email": email, "password": "customer-pass"}, 201)
	token, refresh := out["access_token"].(string), out["refresh_token"].(string)
	other := a.customer()

	c1, c2 := dial(t, n, token), dial(t, n, token)
	bystander := dial(t, n, other.token)
	// The sessions are registered before the upgrade completes.
	a.do("POST", "/v1/auth/logout", token, map[string]string{"refresh_token": refresh}, 204)
	for _, c := range []*client{c1, c2} {
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.conn.ReadMessage()
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, ws.CloseUnauthorized, ce.Code)
	}
	// The same access token may not open a new session.
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+n.Addr()+"/v1/ws?access_token="+token, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp.Body.Close()
	// Other users are untouched, and logging in again works at once.
	bystander.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", bystander.next(5*time.Second).Type)
	again := a.login(email, "customer-pass")
	dial(t, n, again.token).send(map[string]any{"type": "ping"})
}

func TestPushReachesEverySessionOfTheUser(t *testing.T) {
	n := e2e.Start(t, nil)
	a := newAPI(t, n)
	cust, other := a.customer(), a.customer()
	c1, c2, c3 := dial(t, n, cust.token), dial(t, n, cust.token), dial(t, n, other.token)
	frame := `{"type":"event","channel":"user:` + cust.id + `","event":"job.offered","data":{"order_id":"x"}}`
	reply, err := n.Cluster().User(context.Background(), cust.id, &pb.UserCommand{
		By: &pb.Principal{UserId: "system", Role: "system"}, AtMs: time.Now().UnixMilli(),
		Body: &pb.UserCommand_Push{Push: &pb.Push{Frame: []byte(frame)}}})
	require.NoError(t, err)
	require.Nil(t, reply.GetRejection())
	for _, c := range []*client{c1, c2} {
		f := c.next(5 * time.Second)
		require.Equal(t, "job.offered", f.Event)
		require.Equal(t, "user:"+cust.id, f.Channel)
	}
	c3.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", c3.next(5*time.Second).Type, "another user's session got nothing before its pong")
}

package ws_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
)

// api is a small HTTP client of one node.
type api struct {
	t    *testing.T
	base string
}

var uniq atomic.Int64

func newAPI(t *testing.T, n *app.Node) *api { return &api{t: t, base: "http://" + n.Addr()} }

func (a *api) do(method, path, token string, body any, want int) map[string]any {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(a.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	require.NoError(a.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(a.t, want, resp.StatusCode, "%s %s: %s", method, path, raw)
	out := map[string]any{}
	if len(raw) > 0 {
		require.NoError(a.t, json.Unmarshal(raw, &out))
	}
	return out
}

type actor struct{ token, id string }

func (a *api) login(email, password string) actor {
	out := a.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}, 200)
	return actor{out["access_token"].(string), out["user"].(map[string]any)["id"].(string)}
}

func (a *api) admin() actor { return a.login(e2e.AdminEmail, e2e.AdminPassword) }

func (a *api) customer() actor {
	email := fmt.Sprintf("c%d-%d@example.com", time.Now().UnixNano(), uniq.Add(1))
	out := a.do("POST", "/v1/auth/signup", "", map[string]string{"name": "C", "email": email, "password": "customer-pass"}, 201)
	return actor{out["access_token"].(string), out["user"].(map[string]any)["id"].(string)}
}

func (a *api) driver(admin actor) actor {
	email := fmt.Sprintf("d%d-%d@example.com", time.Now().UnixNano(), uniq.Add(1))
	a.do("POST", "/v1/users", admin.token, map[string]any{"name": "D", "email": email, "password": "driver-pass", "role": "driver"}, 201)
	d := a.login(email, "driver-pass")
	a.do("PUT", "/v1/drivers/me/availability", d.token, map[string]any{"available": true}, 200)
	return d
}

func (a *api) order(c actor) string {
	out := a.do("POST", "/v1/orders", c.token, map[string]any{
		"pickup": map[string]any{"address": "1 Depot Rd"}, "dropoff": map[string]any{"address": "9 Home St"},
		"delivery_option": "standard"}, 201)
	return out["id"].(string)
}

// lifecycle drives an order from pending to delivered (5 events after
// creation: assigned, accepted, picked_up, in_transit, delivered).
func (a *api) lifecycle(orderID string, admin, driver actor) {
	a.do("POST", "/v1/orders/"+orderID+"/assign", admin.token, map[string]any{"driver_id": driver.id}, 200)
	a.do("POST", "/v1/orders/"+orderID+"/accept", driver.token, nil, 200)
	for _, st := range []string{"picked_up", "in_transit", "delivered"} {
		a.do("PUT", "/v1/orders/"+orderID+"/status", driver.token, map[string]any{"status": st}, 200)
	}
}

// client is a WebSocket test client.
type client struct {
	t    *testing.T
	conn *websocket.Conn
}

func dial(t *testing.T, n *app.Node, token string) *client {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+n.Addr()+"/v1/ws", h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	c := &client{t: t, conn: conn}
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	require.NoError(c.t, c.conn.WriteJSON(v))
}

// frame is any server frame.
type frame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Channel string          `json:"channel"`
	Seq     int64           `json:"seq"`
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

func (c *client) next(timeout time.Duration) frame {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		var f frame
		_, data, err := c.conn.ReadMessage()
		require.NoError(c.t, err)
		require.NoError(c.t, json.Unmarshal(data, &f), "frame %s", data)
		// The worker pushes notifications on the user's own channel;
		// these tests are about order channels and the protocol.
		if f.Type == "event" && f.Event == "notification.created" {
			continue
		}
		return f
	}
}

// events reads until n event frames for channel arrived, failing on any
// frame of another kind except acks and pongs.
func (c *client) events(channel string, n int) []frame {
	c.t.Helper()
	var out []frame
	for len(out) < n {
		f := c.next(10 * time.Second)
		switch f.Type {
		case "event":
			if f.Channel == channel {
				out = append(out, f)
			}
		case "ack", "pong":
		default:
			c.t.Fatalf("unexpected frame %+v", f)
		}
	}
	return out
}

func (c *client) subscribe(channel string, since *int64) {
	c.t.Helper()
	m := map[string]any{"type": "subscribe", "channel": channel, "id": "s-" + channel}
	if since != nil {
		m["since"] = *since
	}
	c.send(m)
	f := c.next(10 * time.Second)
	require.Equal(c.t, "ack", f.Type, "subscribe %s: %+v", channel, f)
}

func seqs(fs []frame) []int64 {
	out := make([]int64, len(fs))
	for i, f := range fs {
		out[i] = f.Seq
	}
	return out
}

func names(fs []frame) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Event + " ")
	}
	return b.String()
}

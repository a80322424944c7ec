package realtime_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/ws"
)

// TestSessionCap (issue #14, finding 3): one account cannot hold more
// sockets than its role's cap — the probe opened 1,000 as one customer.
// Each socket beyond the cap closes that user's oldest with 4009; the
// newest ones keep working, and other users are not touched.
func TestSessionCap(t *testing.T) {
	const limit = 3
	n, a := e2e.Up(t, func(c *app.Config) { c.WS.MaxSessionsCustomer = limit })
	customer := a.Signup(t)
	other := e2e.Dial(t, "other", n.Addr(), a.Signup(t).Token, nil)

	const opened = 40
	socks := make([]*e2e.WS, opened)
	for i := range socks {
		socks[i] = e2e.Dial(t, fmt.Sprint("sock-", i), n.Addr(), customer.Token, nil)
		socks[i].Send(map[string]any{"type": "ping"})
		require.Equal(t, "pong", socks[i].Must(e2e.EventWait).Type)
	}
	for _, c := range socks[:opened-limit] {
		require.Equal(t, ws.CloseSessionLimit, c.CloseCode(e2e.EventWait), c.Name)
	}
	for _, c := range append(socks[opened-limit:], other) {
		c.Send(map[string]any{"type": "ping"})
		require.Equal(t, "pong", c.Must(5*time.Second).Type, c.Name)
	}
}

// dialFrom opens a WebSocket to the node from local address local.
func dialFrom(addr, local, token string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second,
		NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}).DialContext}
	return d.Dial("ws://"+addr+"/v1/ws", http.Header{"Authorization": {"Bearer " + token}})
}

// requireRefused checks a refused upgrade: the status, the problem code
// and a Retry-After.
func requireRefused(t *testing.T, resp *http.Response, err error, status int, code string) {
	t.Helper()
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.NotNil(t, resp)
	defer resp.Body.Close()
	require.Equal(t, status, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	var p struct{ Code string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	require.Equal(t, code, p.Code)
}

// TestAddressAndNodeCaps (SECURITY.md, known gap 5): signup is open, so
// per-user caps alone let one address open sockets without end. One
// client address holds at most MaxSessionsPerAddress sockets on a node,
// whatever the accounts (429), and the node at most MaxSessionsNode
// (503); a closed socket gives its place back.
func TestAddressAndNodeCaps(t *testing.T) {
	const perAddress, perNode = 4, 6
	n, a := e2e.Up(t, func(c *app.Config) {
		c.WS.MaxSessionsPerAddress, c.WS.MaxSessionsNode = perAddress, perNode
	})
	users := []*e2e.Caller{a.Signup(t), a.Signup(t), a.Signup(t)}
	var open []*websocket.Conn
	dial := func(local string, u *e2e.Caller) *websocket.Conn {
		t.Helper()
		c, resp, err := dialFrom(n.Addr(), local, u.Token)
		require.NoError(t, err, "dial from %s", local)
		resp.Body.Close()
		t.Cleanup(func() { c.Close() })
		open = append(open, c)
		return c
	}
	// Four sockets of three accounts from one address fill its cap.
	for i := range perAddress {
		dial("127.0.0.5", users[i%len(users)])
	}
	resp, err := func() (*http.Response, error) {
		_, r, err := dialFrom(n.Addr(), "127.0.0.5", users[2].Token)
		return r, err
	}()
	requireRefused(t, resp, err, http.StatusTooManyRequests, "rate_limited")
	// Another address is not held back by it; the node's cap is next.
	dial("127.0.0.6", users[0])
	dial("127.0.0.6", users[1])
	_, resp, err = dialFrom(n.Addr(), "127.0.0.7", users[2].Token)
	requireRefused(t, resp, err, http.StatusServiceUnavailable, "unavailable")
	// Closing a socket of 127.0.0.5 gives its place back, on both counts.
	require.NoError(t, open[0].Close())
	e2e.Eventually(t, 10*time.Second, func() bool {
		c, resp, err := dialFrom(n.Addr(), "127.0.0.5", users[0].Token)
		if resp != nil {
			resp.Body.Close()
		}
		if err != nil {
			return false
		}
		t.Cleanup(func() { c.Close() })
		return true
	}, "a closed socket's place is given back")
	_, resp, err = dialFrom(n.Addr(), "127.0.0.5", users[1].Token)
	requireRefused(t, resp, err, http.StatusTooManyRequests, "rate_limited")
}

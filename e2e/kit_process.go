package e2e

// What the tests of e2e/process need beyond the rest of the kit: nodes
// that are child processes come and go, change address, and are reached
// by the same users through several of them.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/internal/fleet"
)

// ConnectNode is Connect to node n of fleet f as the fleet's admin. The
// client keeps working across n's restarts: a fleet node keeps its
// address.
func ConnectNode(t interface {
	TB
	cleaner
}, f *fleet.Fleet, n *fleet.Node) *API {
	t.Helper()
	set := f.Settings()
	return Connect(t, n.URL(), set.AdminEmail, set.AdminPassword)
}

// On returns a copy of u that talks to the node c reaches: the same user
// (token, refresh token, headers) on another node of the cluster, or on a
// node that came back at another address. u is not changed.
func (u *Caller) On(c *Client) *Caller {
	cp := *u
	cp.Client = c
	cp.Header = u.Header.Clone()
	return &cp
}

// Ready asks GET /readyz once and reports whether the node answered 200;
// why says what it answered otherwise (a transport error while the process
// starts, or the 503 that names the checks not yet passing). Unlike Try it
// does not take a 503 for an error answer that must be problem+json: the
// document describes /readyz's 503 as a Readiness body. The answer is
// validated against the document like any other.
func (c *Client) Ready(t TB) (ready bool, why string) {
	t.Helper()
	newReq := func() *http.Request {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.Base+"/readyz", nil)
		require.NoError(t, err)
		return req
	}
	resp, err := c.HTTP.Do(newReq())
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, fmt.Sprintf("GET /readyz: read the answer: %v", err)
	}
	if err := Spec(t).ValidateResponse(newReq(), resp.StatusCode, resp.Header, body); err != nil {
		t.Errorf("answer of GET /readyz does not conform to the OpenAPI document: %d %s: %v", resp.StatusCode, body, err)
	}
	return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
}

// Unsubscribe unsubscribes from channel and waits for the ack; no event
// of channel may arrive before it or be left unread: whatever the test
// expected of the channel it has already read.
func (c *WS) Unsubscribe(channel string) {
	c.t.Helper()
	f := c.Ask(map[string]any{"type": "unsubscribe", "channel": channel})
	require.Equal(c.t, "ack", f.Type, "%s: unsubscribe %s refused: %s", c.Name, channel, f.Raw)
	for _, p := range c.pending {
		if p.Type == "event" && p.Channel == channel {
			require.FailNow(c.t, c.Name+": unexpected event", "%s seq %d %s before the unsubscribe's ack", channel, p.Seq, p.Event)
		}
	}
}

package main_test

// Cluster membership with nothing to list (issue 11, DESIGN.md §8): nodes
// started with only the shared settings — Postgres, NATS URL, namespace —
// and no cluster flag at all form one cluster; a third joins and the
// others list it; a node killed with SIGKILL leaves every list; and
// requests for actors that lived on it are served by the survivors.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cluster"
	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/internal/fleet/fleettest"
)

// listWithin is the bound on a join or a death reaching every
// member's list.
const listWithin = 5 * time.Second

// clusterOf asks node n for GET /v1/cluster.
func clusterOf(ctx context.Context, n *fleet.Node, token string) (cluster.Status, error) {
	r, err := n.Client().Do(ctx, http.MethodGet, "/v1/cluster", token, nil)
	if err != nil {
		return cluster.Status{}, err
	}
	if err := r.Want(http.StatusOK); err != nil {
		return cluster.Status{}, err
	}
	var st cluster.Status
	return st, r.Decode(&st)
}

// lists reports whether n's GET /v1/cluster shows exactly the nodes want
// (by HTTP address), all routed to, with n itself marked self.
func lists(ctx context.Context, n *fleet.Node, token string, want ...*fleet.Node) (bool, string) {
	st, err := clusterOf(ctx, n, token)
	if err != nil {
		return false, err.Error()
	}
	var got, wantAddrs []string
	for _, m := range st.Members {
		if !m.InTopology || m.Self != (m.HTTPAddress == n.Addr()) {
			return false, fmt.Sprintf("%s: %+v", n.Name(), st)
		}
		got = append(got, m.HTTPAddress)
	}
	for _, w := range want {
		wantAddrs = append(wantAddrs, w.Addr())
	}
	slices.Sort(got)
	slices.Sort(wantAddrs)
	return slices.Equal(got, wantAddrs) && st.Provider == cluster.ProviderNATS,
		fmt.Sprintf("%s lists %v, want %v", n.Name(), got, wantAddrs)
}

// requireListedWithin polls every node in on until each lists exactly
// want, failing after d; it returns how long that took.
func requireListedWithin(t *testing.T, d time.Duration, token string, on []*fleet.Node, want ...*fleet.Node) time.Duration {
	t.Helper()
	start := time.Now()
	var last atomic.Value // the condition runs on testify's goroutine
	settled := assert.Eventually(t, func() bool {
		for _, n := range on {
			if ok, why := lists(t.Context(), n, token, want...); !ok {
				last.Store(why)
				return false
			}
		}
		return true
	}, d, 50*time.Millisecond)
	if !settled {
		require.FailNow(t, "membership did not settle in time", "%v after %s", last.Load(), d)
	}
	return time.Since(start)
}

func TestMembershipWithNothingToList(t *testing.T) {
	f := fleettest.New(t, fleettest.Options{Options: fleet.Options{Name: "members", ServeDefaults: true}})
	n1 := fleettest.Start(t, f, "n1", nil)
	n2 := fleettest.Start(t, f, "n2", nil)
	admin, err := f.Admin(t.Context(), n1)
	require.NoError(t, err)
	requireListedWithin(t, listWithin, admin.Token, []*fleet.Node{n1, n2}, n1, n2)

	// Orders created now are placed on n1 or n2 by identity.
	var orders []string
	customer := signUp(t, n1)
	for range 12 {
		orders = append(orders, placeOrder(t, n1, customer))
	}

	// A third node, same shared settings, nothing else: listed by the
	// others within 5 s of its readiness, and serving.
	n3 := fleettest.Start(t, f, "n3", nil)
	took := requireListedWithin(t, listWithin, admin.Token, []*fleet.Node{n1, n2, n3}, n1, n2, n3)
	t.Logf("n3 listed everywhere %s after its /readyz", took)
	requireStatusTable(t, fleettest.Binary(t, true), n2, admin.Token, n1, n2, n3)
	for range 6 { // commands through n3 reach actors on every member
		placeOrder(t, n3, customer)
	}

	// kill -9 of n2: gone from every list within 5 s, and its actors
	// answer from the survivors.
	require.NoError(t, n2.Kill())
	killed := time.Now()
	took = requireListedWithin(t, listWithin, admin.Token, []*fleet.Node{n1, n3}, n1, n3)
	t.Logf("n2 gone from every list %s after the kill", took)
	for i, id := range orders {
		cancelOrder(t, []*fleet.Node{n1, n3}[i%2], admin.Token, id)
	}
	t.Logf("every order served %s after the kill", time.Since(killed))
}

// requireStatusTable runs `outrider cluster status` against node via and
// requires one line per member, via's marked with '*'.
func requireStatusTable(t *testing.T, bin string, via *fleet.Node, token string, members ...*fleet.Node) {
	t.Helper()
	cmd := exec.Command(bin, "cluster", "status", "--server", via.URL())
	cmd.Env = append(os.Environ(), "OUTRIDER_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	require.Contains(t, text, fmt.Sprintf("provider: nats, %d members", len(members)), text)
	for _, m := range members {
		mark := " "
		if m == via {
			mark = "*"
		}
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(mark)+`\s+\S+\s+127\.0\.0\.1:\d+\s+`+regexp.QuoteMeta(m.Addr())+`\s+api,worker\s+\S+ \(.* ago\)\s+.*order=\d+.*\s+\d+\s+yes$`, text)
	}
}

// signUp creates a customer through n and returns the access token.
func signUp(t *testing.T, n *fleet.Node) string {
	t.Helper()
	email := fmt.Sprintf("c%d@members.test", time.Now().UnixNano())
	r, err := n.Client().Do(t.Context(), http.MethodPost, "/v1/auth/signup", "",
		map[string]string{"name": "Cass", "email": email, "password": "customer-password"})
	require.NoError(t, err)
	require.NoError(t, r.Want(http.StatusCreated))
	var out struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, r.Decode(&out))
	return out.AccessToken
}

// placeOrder creates an order through n and returns its id.
func placeOrder(t *testing.T, n *fleet.Node, token string) string {
	t.Helper()
	r, err := n.Client().Do(t.Context(), http.MethodPost, "/v1/orders", token, map[string]any{
		"pickup": map[string]string{"address": "1 Depot Rd"}, "dropoff": map[string]string{"address": "9 Home St"},
		"delivery_option": "standard",
	})
	require.NoError(t, err)
	require.NoError(t, r.Want(http.StatusCreated))
	var o struct {
		ID string `json:"id"`
	}
	require.NoError(t, r.Decode(&o))
	return o.ID
}

// cancelOrder has the admin cancel order id through n (a command its
// actor decides) and requires 200.
func cancelOrder(t *testing.T, n *fleet.Node, token, id string) {
	t.Helper()
	r, err := n.Client().Do(t.Context(), http.MethodPut, "/v1/orders/"+id+"/status", token,
		map[string]string{"status": "cancelled"})
	require.NoError(t, err)
	require.NoError(t, r.Want(http.StatusOK), "cancel %s through %s", id, n.Name())
}

package process_test

// Cluster membership with nothing to list (issue 11, DESIGN.md §8): nodes
// started with only the shared settings — Postgres, NATS URL, namespace —
// and no cluster flag at all form one cluster; a third joins and the
// others list it; a node killed with SIGKILL leaves every list; and
// requests for actors that lived on it are served by the survivors.

import (
	"encoding/json"
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
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/internal/fleet"
	"github.com/outrider/outrider/internal/fleet/fleettest"
)

// listWithin is the bound on a join or a death reaching every
// member's list.
const listWithin = 5 * time.Second

// members are the fleet's nodes and the admin, who talks to each of them
// through a client of its own.
type members struct {
	admin   *e2e.Caller
	clients map[*fleet.Node]*e2e.Client
}

// as is the admin on node n.
func (m *members) as(t *testing.T, n *fleet.Node) *e2e.Caller {
	c, ok := m.clients[n]
	if !ok {
		c = e2e.NewClient(t, n.URL())
		m.clients[n] = c
	}
	return m.admin.On(c)
}

// lists reports whether n's GET /v1/cluster shows exactly the nodes want
// (by HTTP address), all routed to, with n itself marked self. It runs on
// testify's goroutine: it reports, it does not fail.
func lists(t *testing.T, admin *e2e.Caller, n *fleet.Node, want ...*fleet.Node) (bool, string) {
	r, err := admin.Try(t, http.MethodGet, "/v1/cluster", nil)
	if err != nil {
		return false, err.Error()
	}
	if r.Status != http.StatusOK {
		return false, r.String()
	}
	var st cluster.Status
	if err := json.Unmarshal(r.Body, &st); err != nil {
		return false, fmt.Sprintf("%s: %v", r, err)
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
func requireListedWithin(t *testing.T, d time.Duration, m *members, on []*fleet.Node, want ...*fleet.Node) time.Duration {
	t.Helper()
	admins := make([]*e2e.Caller, len(on)) // made here: the condition runs on testify's goroutine
	for i, n := range on {
		admins[i] = m.as(t, n)
	}
	start := time.Now()
	var last atomic.Value
	settled := assert.Eventually(t, func() bool {
		for i, n := range on {
			if ok, why := lists(t, admins[i], n, want...); !ok {
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
	api1 := e2e.ConnectNode(t, f, n1)
	m := &members{admin: api1.Admin, clients: map[*fleet.Node]*e2e.Client{n1: api1.Client}}
	requireListedWithin(t, listWithin, m, []*fleet.Node{n1, n2}, n1, n2)

	// Orders created now are placed on n1 or n2 by identity.
	var orders []string
	customer := api1.Signup(t)
	for range 12 {
		orders = append(orders, customer.CreateOrder(t).ID)
	}

	// A third node, same shared settings, nothing else: listed by the
	// others within 5 s of its readiness, and serving.
	n3 := fleettest.Start(t, f, "n3", nil)
	took := requireListedWithin(t, listWithin, m, []*fleet.Node{n1, n2, n3}, n1, n2, n3)
	t.Logf("n3 listed everywhere %s after its /readyz", took)
	requireStatusTable(t, fleettest.Binary(t, true), n2, m.admin.Token, n1, n2, n3)
	on3 := customer.On(m.as(t, n3).Client)
	for range 6 { // commands through n3 reach actors on every member
		on3.CreateOrder(t)
	}

	// kill -9 of n2: gone from every list within 5 s, and its actors
	// answer from the survivors.
	require.NoError(t, n2.Kill())
	killed := time.Now()
	took = requireListedWithin(t, listWithin, m, []*fleet.Node{n1, n3}, n1, n3)
	t.Logf("n2 gone from every list %s after the kill", took)
	for i, id := range orders {
		// A command its actor decides.
		m.as(t, []*fleet.Node{n1, n3}[i%2]).SetStatus(t, id, "cancelled")
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

package ops_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/host"
	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Where the operations kit keeps its expressions, from this package.
const (
	alertsFile    = "../../deploy/prometheus/alerts.yml"
	dashboardGlob = "../../deploy/grafana/dashboards/*.json"
)

// generated are the series Prometheus makes itself for every target,
// which no node exports.
var generated = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped",
	"scrape_samples_post_metric_relabeling", "scrape_series_added", "ALERTS", "ALERTS_FOR_STATE"}

// TestRulesAndDashboardsNameExportedMetrics starts a node, drives a
// little of everything through it (so that labelled series exist: a
// login, orders placed, an offer that expires, a driver's socket and
// location, a fence rejection and a re-decided refusal), scrapes
// /metrics and fails for every metric an alert rule or a dashboard names
// that the node does not export. A rule on a name that does not exist
// never fires, and a panel on one stays empty: both silently.
func TestRulesAndDashboardsNameExportedMetrics(t *testing.T) {
	uses := expressions(t)
	n, a := e2e.Up(t, nil)
	traffic(t, n, a)

	var missing []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams := scrape(t, "http://"+n.Addr()+"/metrics")
		missing = missing[:0]
		for name := range uses {
			if !slices.Contains(generated, name) && !fams.exports(name) {
				missing = append(missing, name)
			}
		}
		// The worker's and the relay's series follow the requests
		// asynchronously: look again until they are there.
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		<-time.After(200 * time.Millisecond)
	}
	sort.Strings(missing)
	for _, name := range missing {
		t.Errorf("%s is not exported by the node, but named by:\n  %s", name, strings.Join(uses[name], "\n  "))
	}
}

// expressions reads every PromQL expression of the alert rules and the
// dashboards and returns the metric names they use, each with where.
func expressions(t *testing.T) map[string][]string {
	t.Helper()
	uses := map[string][]string{}
	exprs := 0
	note := func(where, expr string) {
		names, err := metricNames(expr)
		require.NoError(t, err, where)
		require.NotEmpty(t, names, "%s: no metric in %q", where, expr)
		exprs++
		for _, n := range names {
			uses[n] = append(uses[n], where)
		}
	}

	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct{ Alert, Record, Expr string }
		}
	}
	data, err := os.ReadFile(alertsFile)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &rules))
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			note("alerts.yml "+g.Name+"/"+r.Alert+r.Record, r.Expr)
		}
	}
	fromRules := exprs

	files, err := filepath.Glob(dashboardGlob)
	require.NoError(t, err)
	require.Len(t, files, 4, "the cluster, orders, realtime and worker dashboards")
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var d map[string]any
		require.NoError(t, json.Unmarshal(data, &d), f)
		walkExprs(d, filepath.Base(f), note)
		templ, _ := d["templating"].(map[string]any)
		vars, _ := templ["list"].([]any)
		for _, v := range vars {
			v, _ := v.(map[string]any)
			if v["type"] != "query" {
				continue
			}
			q := v["query"]
			if m, ok := q.(map[string]any); ok {
				q = m["query"]
			}
			if expr := variableExpr(q.(string)); expr != "" {
				note(filepath.Base(f)+" variable $"+v["name"].(string), expr)
			}
		}
	}
	// Guard against a layout change that would leave nothing to check.
	require.GreaterOrEqual(t, fromRules, 15, "expressions in %s", alertsFile)
	require.GreaterOrEqual(t, exprs-fromRules, 60, "expressions in the dashboards")
	return uses
}

// walkExprs calls note for every "expr" string in a dashboard (panel
// targets, in rows or not), naming the panel.
func walkExprs(v any, where string, note func(where, expr string)) {
	switch v := v.(type) {
	case map[string]any:
		if title, ok := v["title"].(string); ok {
			where += ` / "` + title + `"`
		}
		if e, ok := v["expr"].(string); ok {
			note(where, e)
		}
		for k, c := range v {
			if k != "templating" {
				walkExprs(c, where, note)
			}
		}
	case []any:
		for _, c := range v {
			walkExprs(c, where, note)
		}
	}
}

// variableExpr is the PromQL inside a Grafana query variable:
// label_values(expr, label) and query_result(expr) hold one;
// label_values(label) and metrics(regex) hold none.
func variableExpr(q string) string {
	q = strings.TrimSpace(q)
	if m := regexp.MustCompile(`^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)$`).FindStringSubmatch(q); m != nil {
		return m[1]
	}
	if m := regexp.MustCompile(`^query_result\((.*)\)$`).FindStringSubmatch(q); m != nil {
		return m[1]
	}
	if strings.HasPrefix(q, "label_values(") || strings.HasPrefix(q, "metrics(") || strings.HasPrefix(q, "label_names(") {
		return ""
	}
	return q
}

// traffic drives the node through what makes its labelled series
// appear: counters with labels export nothing until a label value is
// used.
func traffic(t *testing.T, n *app.Node, a *e2e.API) {
	t.Helper()
	customer := a.Signup(t)
	customer = a.Login(t, customer.User.Email, customer.Password)
	driver := a.CreateDriver(t, 1, true)

	// A driver's socket, and a location fix through it.
	ws := e2e.Dial(t, "driver", n.Addr(), driver.Token, e2e.SkipNotifications)
	ws.Send(map[string]any{"type": "location", "lat": 52.52, "lng": 13.405, "ts": time.Now().UnixMilli()})

	// An order offered to the driver (job.offered on the socket), whose
	// offer expires: a deadline fires and the order is pending again.
	o := customer.CreateOrder(t)
	a.Admin.OrderAction(t, o.ID, "assign", map[string]any{"driver_id": driver.ID(), "offer_ttl_s": 5})
	e2e.Eventually(t, 30*time.Second, func() bool { return a.Admin.Order(t, o.ID).Status == "pending" },
		"the offer of %s never expired", o.ID)

	// The fence (I5) and a re-decided refusal (§8): a second activation,
	// on a host of its own over the node's store, assigns an order the
	// node's activation still holds at version 1. The customer's cancel
	// on the node's stale activation is refused by the journal (a fence
	// rejection), then decided again on a fresh one; the driver's accept
	// on another such order is first a refusal, re-decided on the store's
	// state.
	other := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	t.Cleanup(other.Shutdown)
	h := host.New(host.Config{Store: n.Store(), Logger: slog.New(slog.DiscardHandler)})
	assignElsewhere := func(orderID, driverID string) {
		pid := other.Root.Spawn(h.OrderProps())
		other.Root.Send(pid, &pcluster.ClusterInit{Identity: pcluster.NewClusterIdentity(orderID, actors.KindOrder)})
		res, err := other.Root.RequestFuture(pid, &pb.OrderCommand{
			CommandId: ulid.Make().String(), AtMs: time.Now().UnixMilli(),
			By:   &pb.Principal{UserId: a.Admin.ID(), Role: actors.RoleAdmin},
			Body: &pb.OrderCommand_Assign{Assign: &pb.AssignDriver{DriverId: driverID, OfferExpiresAtMs: time.Now().Add(time.Minute).UnixMilli()}},
		}, 15*time.Second).Result()
		require.NoError(t, err)
		require.Nil(t, res.(*pb.OrderReply).GetRejection())
	}
	fenced := customer.CreateOrder(t)
	assignElsewhere(fenced.ID, a.CreateDriver(t, 1, true).ID())
	customer.SetStatus(t, fenced.ID, "cancelled")

	acceptor := a.CreateDriver(t, 1, true)
	redecided := customer.CreateOrder(t)
	assignElsewhere(redecided.ID, acceptor.ID())
	require.Equal(t, "accepted", acceptor.OrderAction(t, redecided.ID, "accept", nil).Status)
}

// families maps each metric family a scrape holds samples of to its
// type (counter, gauge, histogram, summary, untyped).
type families map[string]string

// exports reports whether a query of name finds series: a counter, gauge
// or untyped family by its name; a histogram's _bucket, _sum and _count;
// a summary's _sum and _count (and its quantiles by its name, which
// Outrider does not export).
func (f families) exports(name string) bool {
	if typ, ok := f[name]; ok {
		return typ != "histogram" && typ != "summary"
	}
	for suffix, types := range map[string][]string{
		"_bucket": {"histogram"},
		"_sum":    {"histogram", "summary"},
		"_count":  {"histogram", "summary"},
	} {
		if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(types, f[base]) {
			return true
		}
	}
	return false
}

// scrape reads the node's /metrics (Prometheus text format) into its
// families: those with a # TYPE line and at least one sample.
func scrape(t *testing.T, url string) families {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	types := map[string]string{}
	samples := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		samples[name] = true
	}
	require.NoError(t, sc.Err())
	fams := families{}
	for name, typ := range types {
		if samples[name] || samples[name+"_bucket"] || samples[name+"_sum"] || samples[name+"_count"] {
			fams[name] = typ
		}
	}
	require.Greater(t, len(fams), 50, "a scrape of %s with so few families", url)
	return fams
}

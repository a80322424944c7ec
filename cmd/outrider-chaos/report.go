package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outrider/outrider/cmd/outrider-chaos/oracle"
)

// Target is one of the aims for the full run, met or not.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// failoverAim is how soon after a kill the orders of the killed node must
// take commands again; rollingAim the share of operations that may fail
// (after retries) during a rolling restart.
const (
	failoverAim = 2 * time.Second
	rollingAim  = 0.001
)

func targets(r *Result) []Target {
	v := r.Verdict
	if v == nil {
		return nil
	}
	zero := func(name string, n int) Target {
		return Target{Name: name, Want: "0", Got: fmt.Sprint(n), Met: n == 0}
	}
	out := []Target{
		zero("acknowledged writes lost", len(v.Violations.LostWrites)),
		zero("orders with two drivers", len(v.Violations.DoubleAssignments)),
		zero("drivers over capacity", len(v.Violations.CapacityBreaches)),
		zero("valid commands wrongly refused", len(v.Violations.WronglyRefused)),
		zero("watcher gaps", len(v.Violations.WatcherGaps)),
		zero("watcher duplicates", len(v.Violations.WatcherDuplicates)),
		{Name: "histories linearizable", Want: "Ok", Got: v.Linearizability.Result, Met: v.Linearizability.Result == "Ok"},
		zero("data races in the nodes", len(r.Races)),
	}
	for _, f := range v.Failovers {
		got := fmt.Sprintf("max %s over %d orders", f.Max.Round(time.Millisecond), f.Affected)
		if f.Unrecovered > 0 {
			got += fmt.Sprintf(", %d never", f.Unrecovered)
		}
		out = append(out, Target{Name: "kill -9 " + f.Node + ": first command of its orders",
			Want: "≤ " + failoverAim.String(), Got: got, Met: f.Max <= failoverAim && f.Unrecovered == 0})
	}
	for _, w := range v.Windows {
		if w.Kind != "rolling" {
			continue
		}
		out = append(out, Target{Name: "failed requests during the rolling restart",
			Want: "< 0.1 %", Got: fmt.Sprintf("%.3f %% (%d of %d)", 100*w.Rate, w.Failed, w.Ops), Met: w.Rate < rollingAim})
	}
	return out
}

// writeText prints the report for people.
func writeText(out io.Writer, r *Result) {
	v := r.Verdict
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	fmt.Fprintf(out, "outrider-chaos: %s\n", verdict)
	if r.Command != "" {
		fmt.Fprintf(out, "command:   %s\n", r.Command)
	}
	fmt.Fprintf(out, "cluster:   %d → %d nodes, provider %s, race detector %v\n", r.Nodes, r.NodesEnd, r.Provider, r.Race)
	var sched []string
	for _, a := range r.Schedule {
		sched = append(sched, fmt.Sprintf("%s%s@%s", a.Kind, prefixed(":", a.Node), a.At))
	}
	fmt.Fprintf(out, "schedule:  %s (workload ran %s)\n", strings.Join(sched, ", "), r.Duration.Round(time.Millisecond))
	fmt.Fprintf(out, "workload:  %d workers, %d customers, %d drivers; %d orders finished, %d left open\n",
		r.Workload.Workers, r.Workload.Customers, r.Workload.Drivers, r.Workload.Finished, r.Workload.Unsettled)
	fmt.Fprintf(out, "files:     %s\n", r.Dir)
	if v == nil {
		return
	}
	c := v.Counts
	fmt.Fprintf(out, "\nhistory:   %d operations on %d orders (%d writes): %d acknowledged, %d refused, %d failed after retries\n",
		c.Ops, c.Orders, c.Writes, c.Acked, c.Refused, c.Failed)
	fmt.Fprintf(out, "           %d HTTP requests; %d operations needed a retry; %d writes without an answer, %d of them committed\n",
		c.Attempts, c.Retried, c.Indefinite, c.Committed)
	fmt.Fprintf(out, "journal:   %d order events\n", c.Journal)
	fmt.Fprintf(out, "watchers:  %d sessions, %d streams, %d event frames, %d resubscriptions after a lost connection, %d streams behind at the end\n",
		r.Watchers.Sessions, c.Streams, c.Frames, r.Watchers.Resubs, r.Unsettled)
	if len(r.Watchers.CloseCodes) > 0 || len(r.Watchers.Errors) > 0 {
		fmt.Fprintf(out, "           close codes %v; errors %v\n", r.Watchers.CloseCodes, r.Watchers.Errors)
		for i, e := range r.Watchers.ErrorSamples {
			if i == 5 {
				break
			}
			fmt.Fprintf(out, "           %s\n", e)
		}
	}

	fmt.Fprintf(out, "\nfaults:\n")
	t0 := r.Started.UnixNano()
	for _, f := range r.Faults {
		fmt.Fprintf(out, "  +%-9s %-8s %-6s took %s\n", time.Duration(f.At-t0).Round(time.Millisecond), f.Kind, f.Node,
			time.Duration(f.Done-f.At).Round(time.Millisecond))
	}
	if len(v.Failovers) > 0 {
		fmt.Fprintf(out, "\nfailover (kill → first acknowledged command of each order the killed node owned):\n")
		for _, f := range v.Failovers {
			who := "orders it owned (rendezvous over the members at the kill)"
			if !f.OwnerKnown {
				who = "orders with traffic at the kill (owner unknown)"
			}
			fmt.Fprintf(out, "  %s: %d %s: p50 %s, p90 %s, max %s, %d never\n", f.Node, f.Affected, who,
				f.P50.Round(time.Millisecond), f.P90.Round(time.Millisecond), f.Max.Round(time.Millisecond), f.Unrecovered)
		}
	}
	if len(v.Windows) > 0 {
		fmt.Fprintf(out, "\noperations in flight during faults (from the fault until 5 s after it was complete):\n")
		for _, w := range v.Windows {
			fmt.Fprintf(out, "  %-8s %5d operations, %d failed after retries (%.3f %%), %d needed a retry\n",
				w.Kind, w.Ops, w.Failed, 100*w.Rate, w.FirstTry)
		}
	}

	fmt.Fprintf(out, "\ninvariants and targets:\n")
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	for _, t := range r.Targets {
		mark := "ok"
		if !t.Met {
			mark = "MISSED"
		}
		fmt.Fprintf(tw, "  %s\t%s\twant %s\t%s\n", t.Name, t.Got, t.Want, mark)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "  linearizability: %d orders, %d operations checked with porcupine: %s", v.Linearizability.Orders, v.Linearizability.Ops, v.Linearizability.Result)
	if n := len(v.Linearizability.Unknown); n > 0 {
		fmt.Fprintf(out, " (%d orders timed out)", n)
	}
	fmt.Fprintln(out)

	if n := v.Violations.Total(); n > 0 {
		fmt.Fprintf(out, "\nviolations (%d):\n", n)
		show := func(name string, vs []oracle.Violation) {
			for i, x := range vs {
				if i == 10 {
					fmt.Fprintf(out, "  %s: … %d more (see the JSON report)\n", name, len(vs)-10)
					break
				}
				fmt.Fprintf(out, "  %s: %s %s\n", name, x.Order, x.Detail)
			}
		}
		vv := v.Violations
		show("lost write", vv.LostWrites)
		show("double assignment", vv.DoubleAssignments)
		show("capacity", vv.CapacityBreaches)
		show("wrongly refused", vv.WronglyRefused)
		show("refused but committed", vv.RefusedButCommitted)
		show("invalid commit", vv.InvalidCommits)
		show("read model", vv.ReadModel)
		show("watcher gap", vv.WatcherGaps)
		show("watcher duplicate", vv.WatcherDuplicates)
		show("watcher mismatch", vv.WatcherMismatches)
		show("not linearizable", vv.Nonlinearizable)
		for _, p := range v.Linearizability.Visualizations {
			fmt.Fprintf(out, "  visualization: %s\n", p)
		}
	}
	for _, race := range r.Races {
		fmt.Fprintf(out, "\nrace report:\n%s\n", firstLines(race, 60))
	}
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

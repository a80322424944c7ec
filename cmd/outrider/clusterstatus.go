package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outrider/outrider/cluster"
)

// clusterCmd runs `outrider cluster status`: the members a node sees
// (GET /v1/cluster, admin), as a table or as JSON.
func clusterCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		return errors.New("usage: outrider cluster status [--server URL] [--token T] [--json]")
	}
	fs := flag.NewFlagSet("cluster status", flag.ContinueOnError)
	def, _ := nodeURL()
	server := fs.String("server", def, "node URL (default: OUTRIDER_URL, else OUTRIDER_SERVER, else OUTRIDER_HTTP_ADDR's port on localhost, else http://localhost:8080)")
	token := fs.String("token", os.Getenv("OUTRIDER_TOKEN"), "an admin's access token (OUTRIDER_TOKEN)")
	asJSON := fs.Bool("json", false, "print the node's answer as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *token == "" {
		return errors.New("cluster status: set OUTRIDER_TOKEN (or --token) to an admin's access token")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*server, "/")+"/v1/cluster", nil)
	if err != nil {
		return fmt.Errorf("cluster status: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cluster status: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("cluster status: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cluster status: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if *asJSON {
		_, err := out.Write(body)
		return err
	}
	var st cluster.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("cluster status: decode answer: %w", err)
	}
	return printClusterStatus(out, st, time.Now())
}

// printClusterStatus writes st as a table, one member a line; the node
// that answered is marked with '*'.
func printClusterStatus(out io.Writer, st cluster.Status, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "provider: %s, %d members\n", st.Provider, len(st.Members))
	fmt.Fprintln(tw, "\tID\tCLUSTER\tHTTP\tROLES\tJOINED\tACTIVATIONS\tSOCKETS\tROUTED")
	for _, m := range st.Members {
		mark := ""
		if m.Self {
			mark = "*"
		}
		joined := "-"
		if !m.JoinedAt.IsZero() {
			joined = m.JoinedAt.UTC().Format(time.RFC3339) + " (" + now.Sub(m.JoinedAt).Round(time.Second).String() + " ago)"
		}
		kinds := make([]string, 0, len(m.Activations))
		for k := range m.Activations {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		acts := make([]string, 0, len(kinds))
		for _, k := range kinds {
			acts = append(acts, fmt.Sprintf("%s=%d", k, m.Activations[k]))
		}
		routed := "yes"
		if !m.InTopology {
			routed = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", mark, orDash(m.ID), m.ClusterAddress, orDash(m.HTTPAddress),
			orDash(strings.Join(m.Roles, ",")), joined, orDash(strings.Join(acts, " ")), m.Sockets, routed)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Command outrider-load is Outrider's realtime load simulator. It runs as
// its own process against one node on 127.0.0.1 (normally `outrider dev`)
// and measures the four aims of issue #3: memory per idle socket, location
// ingest rate, fan-out rate to the watchers of one order, and commit →
// frame latency; and, with `shift`, automatic dispatch under a shift of
// drivers who stream fixes, answer offers and deliver. Start with
// RESULTS.md for the commands and the figures.
//
// Every scenario talks to the node through its public surfaces only: the
// HTTP API (admin from the dev data dir's demo-accounts.json), /v1/ws, and
// /metrics. Sockets authenticate with access tokens minted with the dev
// node's key (D/jwt-secret): the gateway only verifies the token, so one
// process can open thousands of distinct sessions without thousands of
// logins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

const usage = `outrider-load — realtime load simulator for one Outrider node.

Usage:
  outrider-load idle    [flags]   N idle authenticated sockets; server RSS per socket
  outrider-load ingest  [flags]   D drivers streaming location frames; frames/s accepted
  outrider-load fanout  [flags]   W watchers of one order while its driver streams; frames/s delivered
  outrider-load latency [flags]   K watchers over M orders, order changes at a fixed rate; commit → frame
  outrider-load shift   [flags]   D drivers streaming fixes in a city while auto orders arrive at a fixed
                                  rate; drivers decline or accept offers and deliver; placed → offered,
                                  placed → accepted, offers per order, escalations, node CPU and RSS
  outrider-load side    [flags]   the same client against Outrider or Centrifugo: RSS per idle subscribed
                                  socket, or deliveries to subscribers of one channel (centrifugo.sh)
  outrider-load fleetview [flags] D drivers streaming fixes over a country; a fleet watcher with a city
                                  viewport, without one, or both: messages, frames and bytes/s per watcher;
                                  -nodes spreads the drivers over a cluster, -procs over child processes
                                  (on-cluster.sh)

Run "outrider-load <scenario> -h" for the flags of one scenario.
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "outrider-load:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(out, usage)
		return nil
	}
	scenarios := map[string]func(context.Context, *target, []string, io.Writer) error{
		"idle": runIdle, "ingest": runIngest, "fanout": runFanout, "latency": runLatency, "shift": runShift,
		"side": runSide, "fleetview": runFleetview,
	}
	fn, ok := scenarios[args[0]]
	if !ok {
		return fmt.Errorf("unknown scenario %q\n\n%s", args[0], usage)
	}
	if n, err := raiseFileLimit(); err != nil {
		return fmt.Errorf("raise open-file limit: %w", err)
	} else {
		fmt.Fprintf(os.Stderr, "open-file limit: %d\n", n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return fn(ctx, &target{}, args[1:], out)
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit: every
// socket is a descriptor, and shells default to a soft limit of 1,024.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}

// target is the node under load and how to reach it; every scenario
// registers these flags.
type target struct {
	addr    string
	dataDir string
	pid     int
}

func (t *target) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.addr, "addr", "127.0.0.1:8787", "the node's HTTP address (loopback only)")
	fs.StringVar(&t.dataDir, "data-dir", "/tmp/ol/data", "the node's `outrider dev` data dir (jwt-secret, demo-accounts.json)")
	pid, _ := strconv.Atoi(os.Getenv("OUTRIDER_NODE_PID")) // on-serve.sh sets it
	fs.IntVar(&t.pid, "pid", pid, "the node's process id, to read VmRSS from /proc (0: use /metrics' process_resident_memory_bytes; default $OUTRIDER_NODE_PID)")
}

// check refuses anything but a loopback node: this tool must never load a
// real deployment.
func (t *target) check() error {
	host := t.addr
	if i := strings.LastIndex(host, ":"); i >= 0 {
		host = host[:i]
	}
	if host != "127.0.0.1" && host != "localhost" && host != "[::1]" {
		return fmt.Errorf("--addr %s: only a node on 127.0.0.1 may be loaded", t.addr)
	}
	return nil
}

// parseFlags parses a scenario's flags and checks the target.
func parseFlags(fs *flag.FlagSet, t *target, args []string) error {
	t.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return t.check()
}

// row is one line of a result table: a figure, the aim it answers (if
// any), and whether the aim is met.
type row struct {
	name, value, aim, verdict string
}

func printTable(w io.Writer, title string, rows []row) {
	fmt.Fprintf(w, "\n%s\n\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\taim\tmet")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.value, dash(r.aim), dash(r.verdict))
	}
	_ = tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// logPrefix starts every log line (a fleetview driver process says
// which it is).
var logPrefix string

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000")+" "+logPrefix+format+"\n", args...)
}

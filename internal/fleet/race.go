package fleet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// raceMarker starts every report of Go's race detector.
const raceMarker = "WARNING: DATA RACE"

// RaceReport is one file of data race reports a child process wrote, or
// the reports found in a node's log when GORACE was overridden.
type RaceReport struct {
	// Node is the node (with its run, e.g. "node1-2") the report is of.
	Node string
	// Path is the file the report was read from.
	Path string
	// Races counts the reports in Text.
	Races int
	// Text is the reports, as the race detector wrote them.
	Text string
}

func (r RaceReport) String() string {
	return fmt.Sprintf("%d data race(s) in %s (%s):\n%s", r.Races, r.Node, r.Path, r.Text)
}

// RaceReports lists the race reports of every run of every node so far:
// the files their race detector wrote under Dir/race, and any report
// printed in their logs instead. Children built without -race write none.
func (f *Fleet) RaceReports() []RaceReport {
	out, _ := ReadRaceReports(filepath.Join(f.set.Dir, "race"))
	for _, n := range f.Nodes() {
		for _, p := range n.LogPaths() {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if i := bytes.Index(b, []byte(raceMarker)); i >= 0 {
				out = append(out, RaceReport{
					Node: strings.TrimSuffix(filepath.Base(p), ".log"), Path: p,
					Races: bytes.Count(b, []byte(raceMarker)), Text: string(b[max(i-64, 0):]),
				})
			}
		}
	}
	return out
}

// ReadRaceReports reads the report files a race detector run with
// GORACE=log_path=dir/<name> wrote (dir/<name>.<pid>): every non-empty
// file in dir, by name.
func ReadRaceReports(dir string) ([]RaceReport, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []RaceReport
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		node := e.Name()
		if i := strings.LastIndexByte(node, '.'); i > 0 {
			node = node[:i] // the pid
		}
		out = append(out, RaceReport{Node: node, Path: p, Races: max(bytes.Count(b, []byte(raceMarker)), 1), Text: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Tails returns the last lines of every log of every node, each under a
// header naming it: what to print when a test fails.
func (f *Fleet) Tails(lines int) string {
	var sb strings.Builder
	for _, n := range f.Nodes() {
		for _, p := range n.LogPaths() {
			b, err := os.ReadFile(p)
			if err != nil {
				fmt.Fprintf(&sb, "=== %s: %v\n", p, err)
				continue
			}
			fmt.Fprintf(&sb, "=== %s (%s), last %d lines:\n%s\n", filepath.Base(p), n.Addr(), lines, Tail(b, lines))
		}
	}
	return sb.String()
}

// Tail returns the last lines of b.
func Tail(b []byte, lines int) []byte {
	parts := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return bytes.Join(parts, []byte("\n"))
}

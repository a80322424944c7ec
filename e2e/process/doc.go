// Package process holds the end-to-end tests that run the outrider binary
// as child processes: kill -9 of a serve node under load (I3), of a worker
// process, `outrider dev` on its data dir, realtime across two nodes,
// watchers under node churn (I4) and cluster membership with nothing to
// list.
//
// The serve nodes are run by internal/fleet (fleettest builds the binary
// with -race and fails the test on any race a child reports); the dev
// tests build and run `outrider dev` themselves. Every test talks to the
// nodes through the kit of package e2e only: e2e.Client, so every request
// and answer is checked against the OpenAPI document, and e2e.WS. The
// tests are slow (minutes); run one with -run.
package process

// Package ops tests the operations kit against a real node: that every
// metric deploy/prometheus's alerting rules and deploy/grafana's
// dashboards name is one the node exports (metricnames_test.go), with
// the PromQL tokenizer that finds those names (promql_test.go). The
// files' own checks (promtool, dashboard structure, docker-compose.yml)
// sit beside them, in deploy/ and cmd/outrider.
package ops

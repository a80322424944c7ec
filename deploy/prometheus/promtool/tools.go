//go:build tools

// Package promtool pins the promtool that deploy/prometheus's tests run:
// `make tools` builds it into bin/promtool from this module. It is the
// release docker-compose.yml runs (module v0.315.0 is Prometheus
// v3.15.0; promtool_test.go checks the two agree), built with
// -tags remove_all_sd,enable_kubernetes_sd: of the service discoveries
// only the Kubernetes one that prometheus.yml uses (and file and http,
// always in), which leaves the cloud SDKs out of the build.
//
// A module of its own because Prometheus's go.mod has a replace
// directive, which `go install …/promtool@version` refuses, and so that
// Outrider's go.mod does not carry Prometheus's dependencies.
package promtool

import _ "github.com/prometheus/prometheus/cmd/promtool"

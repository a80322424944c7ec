package ops_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMetricNames holds the tokenizer to the places PromQL puts names
// that are not metrics, and to the ways it names metrics.
func TestMetricNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, expr string
		want       []string
	}{
		{"bare", `up`, []string{"up"}},
		{"selector", `up{job="outrider", instance=~"$instance"}`, []string{"up"}},
		{"function and range", `rate(a_total{x="1"}[5m])`, []string{"a_total"}},
		{"grafana rate interval", `rate(a_total[$__rate_interval])`, []string{"a_total"}},
		{"subquery", `max_over_time(rate(a_total[1m])[10m:30s])`, []string{"a_total"}},
		{"aggregation grouping before", `sum by (le, kind) (rate(h_bucket[5m]))`, []string{"h_bucket"}},
		{"aggregation grouping after", `sum(rate(h_bucket[5m])) by (le)`, []string{"h_bucket"}},
		{"without", `sum without (instance, pod) (a)`, []string{"a"}},
		{"quantile", `histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))`, []string{"h_bucket"}},
		{"binary with matching", `a / on (route) group_left (instance) b`, []string{"a", "b"}},
		{"group_left without labels", `a * on (kind) group_left b`, []string{"a", "b"}},
		{"ignoring", `a - ignoring (stage) b`, []string{"a", "b"}},
		{"set operators", `a > 1 and on () b < 2 or c unless d`, []string{"a", "b", "c", "d"}},
		{"bool", `a == bool 1`, []string{"a"}},
		{"offset and at", `a offset 5m + b @ 1609746000 - c offset -1h30m`, []string{"a", "b", "c"}},
		{"at start", `a @ start()`, []string{"a"}},
		{"numbers are not names", `a * 1e-3 + 0x1f - 2.5e+3 + .5 + Inf - NaN`, []string{"a"}},
		{"label value looks like a metric", `a{route="not_a_metric", b=~"c_total|d"}`, []string{"a"}},
		{"__name__", `{__name__="a_total", job="x"}`, []string{"a_total"}},
		{"__name__ regex is not checkable", `{__name__=~"a_.*"}`, nil},
		{"quoted name (Prometheus 3)", `{"a.b_total", job="x"}`, []string{"a.b_total"}},
		{"quoted label name", `a{"my.label"="v"}`, []string{"a"}},
		{"recording rule name", `job:a_total:rate5m`, []string{"job:a_total:rate5m"}},
		{"string arguments", `label_replace(a, "dst", "$1", "src", "(not_a_metric.*)")`, []string{"a"}},
		{"count_values", `count_values("version", a)`, []string{"a"}},
		{"topk with parameter", `topk(5, a) or bottomk(1, b)`, []string{"a", "b"}},
		{"vector and time", `(sum(a) or vector(0)) - time()`, []string{"a"}},
		{"absent", `absent(up{job="outrider"})`, []string{"up"}},
		{"escaped quote in string", `a{x="say \"b_total\"", y='c\'d'} + e{z=` + "`raw`" + `}`, []string{"a", "e"}},
		{"comment", "a # b_total is not here\n+ c", []string{"a", "c"}},
		{"grafana variables", `a{instance=~"${instance:regex}"} * $factor + [[legacy]]`, []string{"a"}},
		{"repeated", `a / a`, []string{"a"}},
		{"keyword case", `a AND ON (x) b`, []string{"a", "b"}},
		{"multi-line", "sum by (consumer) (rate(a{outcome=\"failed\"}[10m]))\n  / sum by (consumer) (rate(a[10m])) > 0.1", []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := metricNames(tc.expr)
			require.NoError(t, err, tc.expr)
			require.Equal(t, tc.want, got, tc.expr)
		})
	}
}

// TestMetricNamesMalformed: an expression the tokenizer cannot follow is
// an error, never a silently short list of names.
func TestMetricNamesMalformed(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		`rate(a[5m]`,
		`a)`,
		`a{job="x"`,
		`a}`,
		`a{job="x}`,
		`a{job}`,
		`a{job=}`,
		`rate(a[5m)`,
		`sum by (le (a)`,
		`a{x="1"} + [[b`,
		`a{x=~${y}`,
	} {
		_, err := metricNames(expr)
		require.Error(t, err, expr)
	}
}

// TestExported holds the suffix rules: _bucket only of a histogram,
// _sum and _count of a histogram or a summary, never of a counter or a
// gauge that happens to be named like one.
func TestExported(t *testing.T) {
	t.Parallel()
	fams := families{
		"h_seconds": "histogram", "s_seconds": "summary", "c_total": "counter", "g": "gauge",
		"x_count": "gauge", "u": "untyped",
	}
	for name, want := range map[string]bool{
		"h_seconds_bucket": true, "h_seconds_sum": true, "h_seconds_count": true, "h_seconds": false,
		"s_seconds_sum": true, "s_seconds_count": true, "s_seconds_bucket": false,
		"c_total": true, "c_total_count": false, "c": false, "c_total_bucket": false,
		"g": true, "g_sum": false, "x_count": true, "x": false, "u": true, "missing": false,
	} {
		require.Equal(t, want, fams.exports(name), name)
	}
}

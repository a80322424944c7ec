// Package prometheus_test checks deploy/prometheus: the scrape
// configurations and the alerting rules with promtool (the release
// docker-compose.yml runs, built by `make tools`), and the rules against
// the conventions README.md promises an operator: a for:, a severity,
// a summary and a description on every alert, and a README entry for
// each. Whether the metrics the rules name exist is e2e/ops's test.
package prometheus_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// promtool finds the promtool `make tools` builds: OUTRIDER_PROMTOOL,
// else the repository's bin/promtool, else one on PATH. None fails the
// test, naming the make target.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OUTRIDER_PROMTOOL"); p != "" {
		return p
	}
	if p, err := filepath.Abs("../../bin/promtool"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	t.Fatal("promtool not found (OUTRIDER_PROMTOOL, bin/promtool or PATH): run `make tools`, " +
		"which builds bin/promtool from deploy/prometheus/promtool")
	return ""
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestPromtoolChecks runs promtool's own checks: both scrape
// configurations (each also loads alerts.yml) and the rules, linted.
func TestPromtoolChecks(t *testing.T) {
	t.Parallel()
	p := promtool(t)
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "config", "prometheus-compose.yml"},
		{"check", "rules", "--lint=all", "--lint-fatal", "alerts.yml"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			out := run(t, p, args...)
			require.Contains(t, out, "SUCCESS", out)
		})
	}
}

// TestAlertsFire runs alerts_test.yml, promtool's unit tests of the
// rules (synthetic series in, the alerts that fire out), against a copy
// of alerts.yml without annotations: the cases pin when each alert fires
// and with which labels, not the wording an operator reads.
func TestAlertsFire(t *testing.T) {
	t.Parallel()
	p := promtool(t)
	data, err := os.ReadFile("alerts.yml")
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &doc))
	stripped := 0
	var strip func(n *yaml.Node)
	strip = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "annotations" {
					n.Content = slices.Delete(n.Content, i, i+2)
					stripped++
					i -= 2
				}
			}
		}
		for _, c := range n.Content {
			strip(c)
		}
	}
	strip(&doc)
	require.Positive(t, stripped)
	out, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerts.yml"), out, 0o600))
	cases, err := os.ReadFile("alerts_test.yml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerts_test.yml"), cases, 0o600))
	res := run(t, p, "test", "rules", filepath.Join(dir, "alerts_test.yml"))
	require.Contains(t, res, "SUCCESS", res)
}

// TestPromtoolIsComposesRelease checks that the promtool the tests run
// is the Prometheus release docker-compose.yml runs, and the one
// deploy/prometheus/promtool pins: a check by another release proves
// little about the server that loads the files.
func TestPromtoolIsComposesRelease(t *testing.T) {
	t.Parallel()
	p := promtool(t)
	// go version -m reads the module version linked into the binary.
	info := run(t, "go", "version", "-m", p)
	m := regexp.MustCompile(`(?m)^\s+mod\s+github\.com/prometheus/prometheus\s+v0\.(\d)(\d\d)\.(\d+)\s`).FindStringSubmatch(info)
	require.NotNil(t, m, "%s was not built from github.com/prometheus/prometheus by `make tools`:\n%s", p, info)
	// Prometheus 3.x.y is Go module v0.3xx.y.
	built := "v" + m[1] + "." + strings.TrimLeft(m[2], "0") + "." + m[3]
	if strings.TrimLeft(m[2], "0") == "" {
		built = "v" + m[1] + ".0." + m[3]
	}

	gomod, err := os.ReadFile("promtool/go.mod")
	require.NoError(t, err)
	pin := regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/prometheus/prometheus\s+(v\S+)`).FindSubmatch(gomod)
	require.NotNil(t, pin, "promtool/go.mod requires no github.com/prometheus/prometheus")
	require.Equal(t, "v0."+m[1]+m[2]+"."+m[3], string(pin[1]),
		"bin/promtool is not the one promtool/go.mod pins: run `make tools` again")

	compose, err := os.ReadFile("../../docker-compose.yml")
	require.NoError(t, err)
	img := regexp.MustCompile(`(?m)^\s*image:\s*prom/prometheus:(\S+)`).FindSubmatch(compose)
	require.NotNil(t, img, "docker-compose.yml runs no prom/prometheus image")
	require.Equal(t, string(img[1]), built,
		"docker-compose.yml runs Prometheus %s but the tests check with %s: move promtool/go.mod to the same release", img[1], built)
}

// ruleFile is what the tests read of a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertConventions holds every alert to what README.md promises: a
// for: (even 0m, chosen rather than forgotten), severity critical or
// warning, a summary and a description that says what to look at, the
// job of prometheus.yml, and a README section of the alert's name.
func TestAlertConventions(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("alerts.yml")
	require.NoError(t, err)
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&rf))
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	headings := regexp.MustCompile("(?m)^### `?([A-Za-z]+)`?").FindAllSubmatch(readme, -1)
	var documented []string
	for _, h := range headings {
		documented = append(documented, string(h[1]))
	}

	var names []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			names = append(names, r.Alert)
			where := g.Name + "/" + r.Alert
			require.NotContains(t, names[:len(names)-1], r.Alert, "%s: two alerts of one name", where)
			require.NotEmpty(t, r.For, "%s: no for: (write for: 0m to fire on the first evaluation)", where)
			require.Contains(t, []string{"critical", "warning"}, r.Labels["severity"], "%s: severity", where)
			require.NotEmpty(t, r.Annotations["summary"], "%s: no summary", where)
			require.Contains(t, r.Annotations["description"], "Look at", "%s: the description must say what to look at", where)
			require.Contains(t, r.Expr, `job="outrider"`, "%s: select the outrider job", where)
			require.Contains(t, documented, r.Alert, "%s: no `### %s` section in README.md", where, r.Alert)
		}
	}
	require.GreaterOrEqual(t, len(names), 10, "alerts.yml: found %d alerts; has its layout changed?", len(names))
	for _, d := range documented {
		require.True(t, slices.Contains(names, d), "README.md documents %s, which alerts.yml does not have", d)
	}
}

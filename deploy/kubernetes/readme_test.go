package kubernetes_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const readmePath = "../README.md"

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	require.NoError(t, err)
	return string(b)
}

var (
	createSecret = regexp.MustCompile(`create secret generic ([a-z0-9-]+)`)
	fromLiteral  = regexp.MustCompile(`--from-(?:literal|file)=([A-Za-z0-9._-]+)=`)
)

// readmeSecretKeys reads the `kubectl create secret generic NAME` commands
// of deploy/README.md (continued lines included): the keys each creates,
// sorted, by secret name.
func readmeSecretKeys(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	lines := strings.Split(readme(t), "\n")
	for i := 0; i < len(lines); i++ {
		m := createSecret.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		cmd := lines[i]
		for strings.HasSuffix(strings.TrimSpace(lines[i]), `\`) && i+1 < len(lines) {
			i++
			cmd += " " + lines[i]
		}
		for _, k := range fromLiteral.FindAllStringSubmatch(cmd, -1) {
			out[m[1]] = append(out[m[1]], k[1])
		}
		slices.Sort(out[m[1]])
	}
	require.NotEmpty(t, out, "%s creates no secret", readmePath)
	return out
}

// TestREADME: what deploy/README.md tells a newcomer to type or set
// exists — every OUTRIDER_* name in `outrider serve --help`, every
// applied overlay, every YAML object it shows (decoded strictly), and
// the socket gauge in the WebSocket gateway's source.
func TestREADME(t *testing.T) {
	text := readme(t)
	flags := serveFlags(t)
	for _, name := range regexp.MustCompile(`OUTRIDER_[A-Z0-9_]*[A-Z0-9]`).FindAllString(text, -1) {
		require.Contains(t, flags.names, name, "%s names %s, which `outrider serve --help` does not list", readmePath, name)
	}

	applies := regexp.MustCompile(`kubectl apply -k (\S+)`).FindAllStringSubmatch(text, -1)
	require.NotEmpty(t, applies)
	for _, m := range applies {
		_, err := os.Stat(filepath.Join("../..", m[1], "kustomization.yaml"))
		require.NoError(t, err, "%s applies %s, which is no kustomization", readmePath, m[1])
	}

	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(text, -1)
	for _, b := range blocks {
		if !strings.Contains(b[1], "kind:") {
			continue
		}
		_, err := decodeAll([]byte(b[1]))
		require.NoError(t, err, "a YAML example of %s:\n%s", readmePath, b[1])
	}

	metrics := regexp.MustCompile(`\boutrider_[a-z0-9_]+\b`).FindAllString(text, -1)
	require.NotEmpty(t, metrics, "%s names no metric to scale on", readmePath)
	src := wsSource(t)
	for _, m := range slices.Compact(slices.Sorted(slices.Values(metrics))) {
		gauge := regexp.MustCompile(`prometheus\.GaugeOpts\{Name:\s*"` + regexp.QuoteMeta(m) + `"`)
		require.True(t, gauge.MatchString(src), "%s names %s, which is no gauge of transport/ws", readmePath, m)
	}
}

// wsSource is the WebSocket gateway's non-test source.
func wsSource(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("../../transport/ws/*.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		b.Write(data)
	}
	return b.String()
}

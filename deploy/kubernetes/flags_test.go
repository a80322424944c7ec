package kubernetes_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// nodeFlags are the settings of `outrider serve`: each OUTRIDER_* name and
// its default as the help prints it ("" when it prints none).
type nodeFlags struct {
	names    map[string]bool
	defaults map[string]string
}

var (
	flagsOnce sync.Once
	flagsVal  nodeFlags
	flagsErr  error
	flagsOut  string
)

// serveFlags runs `go run ./cmd/outrider serve --help` at the repository
// root, once per test run, with no OUTRIDER_* variable in its environment
// (they would change the printed defaults).
func serveFlags(t *testing.T) nodeFlags {
	t.Helper()
	flagsOnce.Do(func() {
		cmd := exec.Command("go", "run", "./cmd/outrider", "serve", "--help")
		cmd.Dir = "../.."
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "OUTRIDER_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		out, err := cmd.CombinedOutput()
		flagsOut = string(out)
		if err != nil {
			flagsErr = err
			return
		}
		flagsVal = parseHelp(flagsOut)
	})
	require.NoError(t, flagsErr, "go run ./cmd/outrider serve --help:\n%s", flagsOut)
	require.NotEmpty(t, flagsVal.names, "no OUTRIDER_* name in `outrider serve --help`:\n%s", flagsOut)
	return flagsVal
}

var (
	helpFlag    = regexp.MustCompile(`^  -[a-z0-9-]+`)
	helpEnv     = regexp.MustCompile(`\((OUTRIDER_[A-Z0-9_]+)\)`)
	helpDefault = regexp.MustCompile(`\(default "?([^")]*)"?\)\s*$`)
)

// parseHelp reads the flag package's usage: "  -name type" then the
// indented help, which names the variable in parentheses and ends with
// "(default X)" when the default is not the zero value.
func parseHelp(out string) nodeFlags {
	f := nodeFlags{names: map[string]bool{}, defaults: map[string]string{}}
	var block []string
	flush := func() {
		text := strings.Join(block, " ")
		block = nil
		envs := helpEnv.FindAllStringSubmatch(text, -1)
		if len(envs) == 0 {
			return
		}
		name := envs[len(envs)-1][1]
		f.names[name] = true
		if m := helpDefault.FindStringSubmatch(text); m != nil {
			f.defaults[name] = m[1]
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if helpFlag.MatchString(line) {
			flush()
		}
		block = append(block, strings.TrimSpace(line))
	}
	flush()
	return f
}

func TestParseHelp(t *testing.T) {
	f := parseHelp(`Usage of serve:
  -cluster-host string
    	cluster remote bind host (OUTRIDER_CLUSTER_HOST) (default "127.0.0.1")
  -cluster-port int
    	cluster remote port (0: any free port) (OUTRIDER_CLUSTER_PORT)
  -shutdown-timeout duration
    	graceful shutdown budget (OUTRIDER_SHUTDOWN_TIMEOUT) (default 20s)
`)
	require.Equal(t, map[string]bool{"OUTRIDER_CLUSTER_HOST": true, "OUTRIDER_CLUSTER_PORT": true, "OUTRIDER_SHUTDOWN_TIMEOUT": true}, f.names)
	require.Equal(t, map[string]string{"OUTRIDER_CLUSTER_HOST": "127.0.0.1", "OUTRIDER_SHUTDOWN_TIMEOUT": "20s"}, f.defaults)
}

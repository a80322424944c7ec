// Package fleettest runs a fleet of `outrider serve` processes for a test
// (see package fleet): New builds the binary once per test binary, with the
// race detector unless told otherwise, and when the test ends stops the
// nodes, removes their schema and streams, fails the test on any data race
// a node reported and, if the test failed, logs the tails of the nodes'
// logs.
package fleettest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outrider/outrider/internal/fleet"
)

// Options configure New.
type Options struct {
	// Options are the fleet's. Binary defaults to the binary New builds;
	// Dir to a t.TempDir(); PGURL and NATSURL to the test servers
	// (OUTRIDER_TEST_PG_URL, OUTRIDER_TEST_NATS_URL, or the CI machine's).
	fleet.Options
	// NoRace builds the nodes without the race detector. They are built
	// with it by default, as `make test` runs every test under -race.
	NoRace bool
}

// New returns a fleet for t, with no node running yet; see fleet.Fleet.
func New(t testing.TB, opts Options) *fleet.Fleet {
	t.Helper()
	if opts.Binary == "" {
		opts.Binary = Binary(t, !opts.NoRace)
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir() // removed after the cleanup below has run
	}
	if opts.PGURL == "" {
		opts.PGURL = envOr("OUTRIDER_TEST_PG_URL", fleet.DefaultPGURL)
	}
	if opts.NATSURL == "" {
		opts.NATSURL = envOr("OUTRIDER_TEST_NATS_URL", fleet.DefaultNATSURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := fleet.New(ctx, opts.Options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := f.Close(ctx); err != nil {
			t.Error(err)
		}
		for _, r := range f.RaceReports() {
			t.Errorf("fleet: %s", r)
		}
		if t.Failed() {
			t.Logf("fleet logs:\n%s", f.Tails(150))
		}
	})
	return f
}

// Start starts node name with env (see fleet.Fleet.Start) and waits up to
// a minute for it to be ready, failing t otherwise.
func Start(t testing.TB, f *fleet.Fleet, name string, env map[string]string) *fleet.Node {
	t.Helper()
	n, err := f.Start(name, env)
	if err != nil {
		t.Fatal(err)
	}
	WaitReady(t, n)
	return n
}

// WaitReady waits up to a minute (a race build starts slowly on a busy
// machine) for each node to answer /readyz with 200, failing t otherwise.
func WaitReady(t testing.TB, nodes ...*fleet.Node) {
	t.Helper()
	for _, n := range nodes {
		if err := n.WaitReady(context.Background(), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

var builds [2]struct {
	once sync.Once
	bin  string
	err  error
}

// Binary builds the outrider binary once per test binary and flavour
// (race or not) and returns its path. The build lives in a directory named
// after this process; Binary removes those of processes that are gone.
func Binary(t testing.TB, race bool) string {
	t.Helper()
	i := 0
	if race {
		i = 1
	}
	b := &builds[i]
	b.once.Do(func() {
		sweep()
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("outrider-fleet-%d", os.Getpid()), []string{"plain", "race"}[i])
		if b.err = os.MkdirAll(dir, 0o755); b.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		began := time.Now()
		b.bin, b.err = fleet.Build(ctx, race, dir)
		if b.err == nil {
			t.Logf("fleettest: built %s (race %v) in %s", b.bin, race, time.Since(began).Round(time.Millisecond))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// sweep removes the build directories of test processes that have exited.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "outrider-fleet-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "outrider-fleet-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			_ = os.RemoveAll(d)
		}
	}
}

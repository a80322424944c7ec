package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence/sqlite"
)

// childEnv names the database file the re-executed test binary commits to;
// when it is set, TestMain runs runChild instead of the tests.
const childEnv = "OUTRIDER_SQLITE_DURABILITY_CHILD"

// childStreams is how many orders the child commits to concurrently.
const childStreams = 4

// runChild commits events 1, 2, 3, ... to childStreams orders until it is
// killed, printing "order seq" on stdout after each acknowledged commit.
func runChild(path string) int {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, quiet)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var wg sync.WaitGroup
	for i := range childStreams {
		wg.Go(func() {
			id := fmt.Sprintf("o%d", i)
			for seq := int64(1); ; seq++ {
				if err := s.Commit(ctx, orderCommit(id, seq)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				// One write of a short line: atomic on a pipe.
				os.Stdout.WriteString(id + " " + strconv.FormatInt(seq, 10) + "\n")
			}
		})
	}
	wg.Wait()
	return 0
}

// TestDurabilityKill9: a child process commits events and reports each
// acknowledged one; it is killed with SIGKILL mid-stream. Reopening the
// file must show every acknowledged event (I3), and each order's stream
// whole: gap-free, with its row, timeline and outbox exactly as far as
// its journal (atomicity).
//
// SIGKILL ends the process but not the kernel, whose page cache still
// holds what write() handed it; this test therefore proves the commit
// protocol (nothing acknowledged before COMMIT returned), while power-loss
// safety rests on synchronous=FULL, which Open verifies.
func TestDurabilityKill9(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "o.db")
	s := openMigrated(t, path)
	s.Close()

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	acked := map[string]int64{}
	lines := bufio.NewScanner(out)
	killed := false
	for lines.Scan() {
		id, seq, ok := strings.Cut(lines.Text(), " ")
		require.True(t, ok, "child said %q", lines.Text())
		n, err := strconv.ParseInt(seq, 10, 64)
		require.NoError(t, err)
		acked[id] = max(acked[id], n)
		// Kill once every stream is well under way; keep reading what
		// the child acknowledged before it died.
		if !killed && len(acked) == childStreams && minOf(acked) >= 50 {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		}
	}
	require.NoError(t, lines.Err())
	err = cmd.Wait()
	require.True(t, killed, "child ended by itself: %v", err)
	require.Error(t, err, "the child was killed")

	s = openMigrated(t, path)
	defer s.Close()
	ctx := t.Context()
	for id, last := range acked {
		l, err := s.Load(ctx, actors.KindOrder, id)
		require.NoError(t, err)
		require.GreaterOrEqual(t, int64(len(l.Events)), last, "%s: acknowledged events lost", id)
		for i, e := range l.Events {
			require.Equal(t, int64(i+1), e.Seq, "%s: gap in the journal", id)
		}
		o, err := s.GetOrder(ctx, id)
		require.NoError(t, err)
		require.Equal(t, int64(len(l.Events)), o.Version, "%s: order row and journal disagree", id)
		tl, err := s.Timeline(ctx, id)
		require.NoError(t, err)
		require.Len(t, tl, len(l.Events), "%s: timeline and journal disagree", id)
		t.Logf("%s: %d acknowledged, %d on disk", id, last, len(l.Events))
	}
	msgs, err := s.UnpublishedOutbox(ctx, 1_000_000)
	require.NoError(t, err)
	total := 0
	for id := range acked {
		l, err := s.Load(ctx, actors.KindOrder, id)
		require.NoError(t, err)
		total += len(l.Events)
	}
	require.Len(t, msgs, total, "one outbox message per journaled event")
}

func openMigrated(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, quiet)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	return s
}

func minOf(m map[string]int64) int64 {
	first := true
	var v int64
	for _, n := range m {
		if first || n < v {
			v, first = n, false
		}
	}
	return v
}

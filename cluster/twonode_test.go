package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/internal/fleet"
)

// The two-node test runs each node in a child process (this test binary,
// re-executed with helperEnv set) and drives both from the parent over
// stdin/stdout: Proto.Actor keeps process-global state (gRPC's logger,
// which remote.Start sets), so two members of one cluster must not share a
// process. The children are built as the parent is (with -race under
// `make test`); they write their race reports to files (GORACE log_path)
// and any report fails the test, as does a child that does not exit
// cleanly. The library races this test used to report (gRPC's global
// logger, remote.BlockList read without its lock, endpointManager.stop
// racing endpoint events) are fixed in the patched copy of the module in
// third_party/protoactor-go (see its PATCHES.md).

const (
	helperEnv    = "OUTRIDER_CLUSTER_HELPER_NODE" // this node's automanaged port
	helperSeeds  = "OUTRIDER_CLUSTER_HELPER_SEEDS"
	resultPrefix = "RESULT "
)

func twoNodeIDs() []string {
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = "id-" + strconv.Itoa(i)
	}
	return ids
}

// helperReport is what a helper node prints for each query.
type helperReport struct {
	Addr       string            `json:"addr"`
	Members    int               `json:"members"`
	Placements map[string]string `json:"placements"` // identity → activation@address
	Error      string            `json:"error,omitempty"`
}

func report(ctx context.Context, n *Node) helperReport {
	r := helperReport{Addr: n.Addr(), Members: len(n.Members()), Placements: map[string]string{}}
	for _, id := range twoNodeIDs() {
		reply, err := n.Order(ctx, id, cmd())
		if err != nil {
			r.Error = err.Error()
			return r
		}
		r.Placements[id] = reply.GetOrder().GetNotes() + "@" + reply.GetOrder().GetDriverId()
	}
	return r
}

// TestHelperNode is one node of TestTwoNodes_AutoManaged; it only runs in a
// child process. It answers each line on stdin with a helperReport and
// stops on EOF.
func TestHelperNode(t *testing.T) {
	port := os.Getenv(helperEnv)
	if port == "" {
		t.Skip("helper process for TestTwoNodes_AutoManaged")
	}
	amPort, err := strconv.Atoi(port)
	require.NoError(t, err)
	n := New(Config{
		Provider:           ProviderAutoManaged,
		AutoManagedPort:    amPort,
		AutoManagedRefresh: 200 * time.Millisecond,
		Seeds:              strings.Split(os.Getenv(helperSeeds), ","),
		RequestTimeout:     2 * time.Second,
	}, testLogger(), Kind{Name: KindOrder, Props: actor.PropsFromProducer(newEcho)})
	require.NoError(t, n.Start(ctxTimeout(t, 20*time.Second)))
	fmt.Println(resultPrefix + `{"addr":"` + n.Addr() + `"}`)

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		line, _ := json.Marshal(report(ctxTimeout(t, 20*time.Second), n))
		fmt.Println(resultPrefix + string(line))
	}
	require.NoError(t, n.Stop(ctxTimeout(t, 30*time.Second)))
}

// helper is a running helper node.
type helper struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	results chan string
}

func startHelper(t *testing.T, amPort int, seeds []string, raceDir string) *helper {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^TestHelperNode$", "-test.count=1")
	c.Env = append(os.Environ(),
		helperEnv+"="+strconv.Itoa(amPort),
		helperSeeds+"="+strings.Join(seeds, ","),
		"GORACE=log_path="+filepath.Join(raceDir, "race")+" halt_on_error=0")
	c.Stderr = io.Discard
	if testing.Verbose() {
		c.Stderr = os.Stderr
	}
	stdin, err := c.StdinPipe()
	require.NoError(t, err)
	stdout, err := c.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.Start())
	h := &helper{cmd: c, stdin: stdin, results: make(chan string)}
	go func() {
		defer close(h.results)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
				h.results <- line
			}
		}
	}()
	return h
}

func (h *helper) read(t *testing.T) helperReport {
	t.Helper()
	select {
	case line, ok := <-h.results:
		require.True(t, ok, "helper node exited")
		var r helperReport
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		return r
	case <-time.After(60 * time.Second):
		require.FailNow(t, "helper node did not answer")
		return helperReport{}
	}
}

func (h *helper) query(t *testing.T) helperReport {
	t.Helper()
	_, err := io.WriteString(h.stdin, "query\n")
	require.NoError(t, err)
	return h.read(t)
}

// stop closes stdin and waits for the node to leave; it returns an error
// unless the node exited cleanly (a race report makes the exit status 66).
func (h *helper) stop() error {
	_ = h.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		_ = h.cmd.Process.Kill()
		<-done
		return errors.New("did not stop within 60s of its stdin closing")
	}
}

// TestTwoNodes_AutoManaged starts two automanaged members, seeded with each
// other, and checks that once the topology has settled both route each of
// 50 identities to the same single activation, spread over both members.
func TestTwoNodes_AutoManaged(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("inside a helper process")
	}
	t.Parallel()
	portA, portB := freePort(t), freePort(t)
	seeds := []string{"127.0.0.1:" + strconv.Itoa(portA), "127.0.0.1:" + strconv.Itoa(portB)}
	raceDir := t.TempDir()
	a := startHelper(t, portA, seeds, raceDir)
	b := startHelper(t, portB, seeds, raceDir)
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("helper node B: %v", err)
		}
		if err := a.stop(); err != nil {
			t.Errorf("helper node A: %v", err)
		}
		reports, err := fleet.ReadRaceReports(raceDir)
		require.NoError(t, err)
		for _, r := range reports {
			t.Errorf("helper node: %s", r)
		}
	})
	addrA, addrB := a.read(t).Addr, b.read(t).Addr
	require.NotEqual(t, addrA, addrB)

	var last string
	eventually(t, 45*time.Second, func() error {
		ra, rb := a.query(t), b.query(t)
		for _, r := range []helperReport{ra, rb} {
			if r.Error != "" {
				return fmt.Errorf("%s: %s", r.Addr, r.Error)
			}
			if r.Members != 2 {
				return fmt.Errorf("%s sees %d members", r.Addr, r.Members)
			}
		}
		hosts := map[string]int{}
		for id, pa := range ra.Placements {
			if pb := rb.Placements[id]; pa != pb {
				return fmt.Errorf("%s: %s via A, %s via B", id, pa, pb)
			}
			hosts[pa[strings.Index(pa, "@")+1:]]++
		}
		if len(hosts) != 2 {
			return fmt.Errorf("all identities placed on %v", hosts)
		}
		last = fmt.Sprint(hosts)
		return nil
	})
	t.Logf("50 identities agree on both nodes; activations per node: %s", last)
}

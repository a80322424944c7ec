package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Node is one named member of a fleet. Its addresses stay the same across
// restarts; each run is a new process with a log file of its own.
type Node struct {
	f    *Fleet
	name string
	// Ports handed out by the fleet when the node was first named.
	httpPort, clusterPort, amPort int

	// mu guards the fields below. Lock order: Node.mu before Fleet.mu.
	// It is never held while waiting for a process.
	mu      sync.Mutex
	extra   map[string]string
	runs    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current run's process has exited
	state   *os.ProcessState
	logs    []string // every run's log file
	started time.Time
}

func (n *Node) lock()   { n.mu.Lock() }
func (n *Node) unlock() { n.mu.Unlock() }

// Name is the node's name in the fleet.
func (n *Node) Name() string { return n.name }

// Addr is the node's HTTP address, host:port.
func (n *Node) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.httpPort) }

// URL is the base URL of the node's HTTP API.
func (n *Node) URL() string { return "http://" + n.Addr() }

// ClusterAddr is the node's actor remote address, host:port.
func (n *Node) ClusterAddr() string { return "127.0.0.1:" + strconv.Itoa(n.clusterPort) }

// AutoManagedPort is the node's automanaged health port (0 with the NATS
// provider).
func (n *Node) AutoManagedPort() int { return n.amPort }

// LogPath is the log file (stdout and stderr) of the current or last run,
// "" before the first.
func (n *Node) LogPath() string {
	n.lock()
	defer n.unlock()
	if len(n.logs) == 0 {
		return ""
	}
	return n.logs[len(n.logs)-1]
}

// LogPaths lists the log files of every run, oldest first.
func (n *Node) LogPaths() []string {
	n.lock()
	defer n.unlock()
	return append([]string(nil), n.logs...)
}

// Runs is how many times the node's process was started.
func (n *Node) Runs() int {
	n.lock()
	defer n.unlock()
	return n.runs
}

// Running reports whether the node's process is up.
func (n *Node) Running() bool {
	n.lock()
	defer n.unlock()
	return n.runningLocked()
}

func (n *Node) runningLocked() bool {
	if n.exited == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Exited is closed when the current run's process has exited (closed
// already when the node never ran).
func (n *Node) Exited() <-chan struct{} {
	n.lock()
	defer n.unlock()
	if n.exited == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return n.exited
}

// ExitState is how the last run ended; nil while it runs or before any.
func (n *Node) ExitState() *os.ProcessState {
	n.lock()
	defer n.unlock()
	return n.state
}

// Pid is the current run's process id, 0 before the first run.
func (n *Node) Pid() int {
	n.lock()
	defer n.unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// start runs a new process for the node. seeds is the automanaged list.
func (n *Node) start(extra map[string]string, seeds []string) error {
	n.lock()
	defer n.unlock()
	if n.runningLocked() {
		return fmt.Errorf("fleet: node %s is running", n.name)
	}
	n.f.mu.Lock()
	closed := n.f.closed
	n.f.mu.Unlock()
	if closed {
		return errors.New("fleet: closed")
	}
	dir := n.f.set.Dir
	run := n.runs + 1
	logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", n.name, run))
	raceLog := filepath.Join(dir, "race", fmt.Sprintf("%s-%d", n.name, run))
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("fleet: node %s: %w", n.name, err)
	}
	cmd := exec.Command(n.f.opts.Binary, "serve")
	cmd.Env = n.f.env(n, extra, seeds, raceLog)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("fleet: start node %s: %w", n.name, err)
	}
	exited := make(chan struct{})
	n.runs, n.cmd, n.exited, n.state, n.started = run, cmd, exited, nil, time.Now()
	n.extra = maps.Clone(extra)
	n.logs = append(n.logs, logPath)
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		n.lock()
		if n.cmd == cmd {
			n.state = cmd.ProcessState
		}
		n.unlock()
		close(exited)
	}()
	return nil
}

// current returns the current run's process and exit channel.
func (n *Node) current() (*exec.Cmd, chan struct{}) {
	n.lock()
	defer n.unlock()
	return n.cmd, n.exited
}

// Signal sends sig to the current run's process, if it runs.
func (n *Node) Signal(sig os.Signal) error {
	cmd, exited := n.current()
	if cmd == nil {
		return fmt.Errorf("fleet: node %s never started", n.name)
	}
	select {
	case <-exited:
		return fmt.Errorf("fleet: node %s is not running", n.name)
	default:
	}
	return cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits until the process is gone. A node that is
// not running is left as it is.
func (n *Node) Kill() error {
	cmd, exited := n.current()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("fleet: node %s survived SIGKILL for 30s", n.name)
	}
}

// Term sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It reports whether the process left by itself (a node that is
// not running did). ExitState says how it ended.
func (n *Node) Term(grace time.Duration) (graceful bool) {
	cmd, exited := n.current()
	if cmd == nil {
		return true
	}
	select {
	case <-exited:
		return true
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
		return true
	case <-t.C:
		_ = n.Kill()
		return false
	}
}

// Restart stops the node (Term with DefaultGrace) if it runs and starts it
// again with the env it last started with; with the automanaged provider
// it gets the seed list of every node the fleet knows now. It does not
// wait for readiness.
func (n *Node) Restart() error {
	n.Term(DefaultGrace)
	n.lock()
	extra := n.extra
	n.unlock()
	var seeds []string
	n.f.mu.Lock()
	if n.f.set.Provider == ProviderAutoManaged {
		seeds = n.f.seedsLocked()
	}
	n.f.mu.Unlock()
	return n.start(extra, seeds)
}

// WaitReady polls GET /readyz every 50 ms until it answers 200. It fails
// when the process exits, ctx ends or within passes, with the last answer.
func (n *Node) WaitReady(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	exited := n.Exited()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := "no answer yet"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/readyz", nil)
		resp, err := hc.Do(req)
		if err != nil {
			last = err.Error()
		} else {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}
		select {
		case <-exited:
			return fmt.Errorf("fleet: node %s exited before it was ready (%v); log %s", n.name, n.ExitState(), n.LogPath())
		case <-ctx.Done():
			return fmt.Errorf("fleet: node %s not ready within %s (last: %s); log %s", n.name, within, last, n.LogPath())
		case <-tick.C:
		}
	}
}

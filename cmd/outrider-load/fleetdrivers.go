package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The fleetview's drivers: one socket each, to node i mod the nodes'
// count, streaming fixes. They live in this process (-procs 0), or are
// spread over child processes of this tool (-procs n) when one process's
// open-file limit cannot hold them all: each child is `outrider-load
// fleetview <the parent's flags> -shard k/n`, holds the drivers
// [k·D/n, (k+1)·D/n) of the cached load drivers, and talks to the parent
// in lines:
//
//	child → parent (stdout): "open N" once its sockets are open, then
//	  every 100 ms "progress SENT CUT REPLIES WRITE_ERRORS", and
//	  "closed TALLY" (how the nodes closed its sockets) as it exits
//	parent → child (stdin): "every DURATION" sets the fix interval; end
//	  of input stops the child

// fleetDrivers is the drivers' side as a measurement sees it.
type fleetDrivers interface {
	// progress is the counters so far.
	progress() driverProgress
	// setEvery sets how often each driver sends a fix.
	setEvery(every time.Duration) error
	// close stops the drivers and closes their sockets; it returns how
	// the nodes had closed sockets before (a tally of close codes).
	close() string
}

// driverProgress is what the drivers did so far.
type driverProgress struct {
	sent, cut, replies, writeErrs int64   // fixes; sockets the node closed; error frames; failed writes
	cpu                           float64 // CPU seconds of child driver processes (0 in-process: the tool's own)
}

// shardSpec is "k/n": driver process k of n (n = 0: not a driver process).
type shardSpec struct{ k, n int }

func parseShard(s string) (shardSpec, error) {
	if s == "" {
		return shardSpec{}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 0 || k >= n {
		return shardSpec{}, fmt.Errorf("%q is not k/n with 0 ≤ k < n", s)
	}
	return shardSpec{k, n}, nil
}

// span is the drivers [lo, hi) of d that shard k of n holds.
func (s shardSpec) span(d int) (lo, hi int) { return s.k * d / s.n, (s.k + 1) * d / s.n }

// parseInts reads a comma-separated list of integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		v, err := strconv.Atoi(p)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// targets are the nodes, the watchers' first, with the tool's data dir.
func (c fleetConfig) targets(t *target) []*target {
	out := make([]*target, len(c.nodes))
	for i, addr := range c.nodes {
		out[i] = &target{addr: addr, dataDir: t.dataDir, pid: c.pids[i]}
	}
	return out
}

// socketsPerProc is the most driver sockets one load process holds.
func (c fleetConfig) socketsPerProc() int {
	n := max(c.procs, 1)
	return (c.drivers + n - 1) / n
}

// socketsPerNode is the most driver sockets one node holds.
func (c fleetConfig) socketsPerNode() int { return (c.drivers + len(c.nodes) - 1) / len(c.nodes) }

// driverGroup is drivers in this process: their sockets, each read until
// it closes, and the writers streaming their fixes.
type driverGroup struct {
	st      *fleetStream
	conns   []*websocket.Conn
	ended   closeTally
	replies atomic.Int64 // error frames (rate_limited, validation_failed …)
	cut     atomic.Int64
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// startDrivers opens a socket for each of ids — the drivers first,
// first+1, … of the fleet, so driver first+i goes to node (first+i) mod
// the nodes' count — from the source addresses of process proc, and
// starts streaming their fixes every cfg.every[0].
func startDrivers(ctx context.Context, cfg fleetConfig, m *minter, ids []string, first, proc int) (*driverGroup, error) {
	dialers := sourceDialers(proc*cfg.sources, cfg.sources)
	conns := make([]*websocket.Conn, len(ids))
	start := time.Now()
	if err := parallel(ctx, len(ids), cfg.concurrency, func(ctx context.Context, i int) error {
		node := cfg.nodes[(first+i)%len(cfg.nodes)]
		c, err := dialFrom(ctx, dialers[i%len(dialers)], "ws://"+node+"/v1/ws", m.token(ids[i], "driver"))
		if err != nil {
			return fmt.Errorf("driver socket %d to %s: %w", first+i, node, err)
		}
		conns[i] = c
		if n := i + 1; n%10_000 == 0 {
			logf("%d driver sockets open", n)
		}
		return nil
	}); err != nil {
		closeAll(conns)
		return nil, err
	}
	logf("%d driver sockets open in %s", len(conns), time.Since(start).Round(time.Millisecond))

	runCtx, cancel := context.WithCancel(ctx)
	g := &driverGroup{conns: conns, cancel: cancel, st: newFleetStream(cfg, conns)}
	for _, c := range conns {
		go func() {
			err := readLoop(c, func([]byte, time.Time) { g.replies.Add(1) })
			if runCtx.Err() == nil {
				g.cut.Add(1)
				g.ended.add(err)
			}
		}()
	}
	g.st.period.Store(int64(cfg.every[0]))
	for w := range cfg.writers {
		g.wg.Add(1)
		go func() { defer g.wg.Done(); g.st.write(runCtx, w) }()
	}
	return g, nil
}

func (g *driverGroup) progress() driverProgress {
	return driverProgress{sent: g.st.sent.Load(), cut: g.cut.Load(), replies: g.replies.Load(), writeErrs: g.st.writeErrs.Load()}
}

func (g *driverGroup) setEvery(every time.Duration) error {
	g.st.period.Store(int64(every))
	return nil
}

func (g *driverGroup) close() string {
	g.once.Do(func() {
		g.cancel()
		g.wg.Wait()
		closeAll(g.conns)
	})
	return g.ended.String()
}

// runFleetShard is a driver process (-shard k/n): it holds its span of
// the cached load drivers until its input ends (see the protocol above).
func runFleetShard(ctx context.Context, t *target, cfg fleetConfig, out io.Writer) error {
	logPrefix = fmt.Sprintf("[drivers %d/%d] ", cfg.shard.k+1, cfg.shard.n)
	ids, err := cachedDrivers(t.driverCache(), cfg.drivers)
	if err != nil {
		return err
	}
	lo, hi := cfg.shard.span(len(ids))
	if err := checkFileLimits(hi-lo, 0, nil); err != nil {
		return err
	}
	m, err := t.minter()
	if err != nil {
		return err
	}
	cfg.seed += uint64(cfg.shard.k) // its own positions and moves
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, err := startDrivers(ctx, cfg, m, ids[lo:hi], lo, cfg.shard.k)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "open %d\n", hi-lo)
	if err := w.Flush(); err != nil {
		g.close()
		return err
	}
	go func() { // the parent's commands; the end of its input stops us
		defer cancel()
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "every "); ok {
				if every, err := time.ParseDuration(d); err == nil {
					_ = g.setEvery(every)
					logf("fixes every %s", every)
				}
			}
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			p := g.progress()
			fmt.Fprintf(w, "progress %d %d %d %d\n", p.sent, p.cut, p.replies, p.writeErrs)
			if err := w.Flush(); err != nil {
				g.close()
				return err
			}
		}
	}
	fmt.Fprintf(w, "closed %s\n", g.close())
	return w.Flush()
}

// shardProcs are the driver processes, as the parent sees them.
type shardProcs struct {
	procs []*shardProc
	once  sync.Once
}

type shardProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	opened chan struct{} // closed at its "open" line
	exited chan struct{} // closed when it has exited; err says how
	err    error
	mu     sync.Mutex
	last   driverProgress
	closed string
}

// spawnShards starts cfg.procs driver processes with the parent's flags
// (args) and waits until every one has its sockets open.
func spawnShards(ctx context.Context, cfg fleetConfig, args []string) (*shardProcs, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := &shardProcs{}
	for k := range cfg.procs {
		p, err := startShard(exe, append(append([]string{"fleetview"}, args...), "-shard", fmt.Sprintf("%d/%d", k, cfg.procs)))
		if err != nil {
			s.close()
			return nil, err
		}
		s.procs = append(s.procs, p)
	}
	const openWait = 10 * time.Minute
	deadline := time.After(openWait)
	for k, p := range s.procs {
		select {
		case <-p.opened:
		case <-p.exited:
			s.close()
			return nil, fmt.Errorf("driver process %d/%d exited before its sockets were open: %v", k+1, cfg.procs, p.err)
		case <-deadline:
			s.close()
			return nil, fmt.Errorf("driver processes: sockets not open after %s", openWait)
		case <-ctx.Done():
			s.close()
			return nil, ctx.Err()
		}
	}
	logf("%d driver processes hold %d driver sockets", cfg.procs, cfg.drivers)
	return s, nil
}

func startShard(exe string, args []string) (*shardProc, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start a driver process: %w", err)
	}
	p := &shardProc{cmd: cmd, stdin: stdin, opened: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		var once sync.Once
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.line(sc.Text(), func() { once.Do(func() { close(p.opened) }) })
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// line takes one line of the child's protocol.
func (p *shardProc) line(l string, opened func()) {
	verb, rest, _ := strings.Cut(l, " ")
	p.mu.Lock()
	defer p.mu.Unlock()
	switch verb {
	case "open":
		opened()
	case "progress":
		var q driverProgress
		if _, err := fmt.Sscanf(rest, "%d %d %d %d", &q.sent, &q.cut, &q.replies, &q.writeErrs); err == nil {
			p.last = q
		}
	case "closed":
		p.closed = rest
	}
}

func (s *shardProcs) progress() driverProgress {
	var sum driverProgress
	for _, p := range s.procs {
		p.mu.Lock()
		q := p.last
		p.mu.Unlock()
		sum.sent += q.sent
		sum.cut += q.cut
		sum.replies += q.replies
		sum.writeErrs += q.writeErrs
		if cpu, err := procCPU(p.cmd.Process.Pid); err == nil {
			sum.cpu += cpu
		}
	}
	return sum
}

func (s *shardProcs) setEvery(every time.Duration) error {
	var errs []error
	for k, p := range s.procs {
		select {
		case <-p.exited:
			errs = append(errs, fmt.Errorf("driver process %d exited: %v", k+1, p.err))
			continue
		default:
		}
		if _, err := fmt.Fprintf(p.stdin, "every %s\n", every); err != nil {
			errs = append(errs, fmt.Errorf("driver process %d: %w", k+1, err))
		}
	}
	return errors.Join(errs...)
}

// close ends the children's input and waits for them to exit (killing
// one that does not within a minute).
func (s *shardProcs) close() string {
	s.once.Do(func() {
		for _, p := range s.procs {
			_ = p.stdin.Close()
		}
		for _, p := range s.procs {
			select {
			case <-p.exited:
			case <-time.After(time.Minute):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
	})
	parts := make([]string, len(s.procs))
	for k, p := range s.procs {
		p.mu.Lock()
		parts[k] = fmt.Sprintf("process %d: %s", k+1, dash(p.closed))
		p.mu.Unlock()
	}
	return strings.Join(parts, "; ")
}

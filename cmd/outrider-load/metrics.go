package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// metrics is one scrape of the node's /metrics: series (as written, e.g.
// `outrider_ws_location_frames_total{outcome="passed"}`) → value.
type metrics map[string]float64

// parseMetrics reads the Prometheus text format. Comments and blank lines
// are skipped; a trailing timestamp, if any, is ignored.
func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The series ends at the closing brace if there are labels (label
		// values may hold spaces), else at the first space.
		end := strings.IndexByte(line, ' ')
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			end = i + 1
		}
		if end <= 0 || end >= len(line) {
			return nil, fmt.Errorf("metrics line %q: no value", line)
		}
		fields := strings.Fields(line[end:])
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		m[line[:end]] = v
	}
	return m, sc.Err()
}

// series names a series the way promhttp writes it: labels sorted by
// name, values quoted.
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	pairs := make([]string, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+`="`+labels[i+1]+`"`)
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// delta is after − before for one series (missing series count as 0).
func delta(before, after metrics, s string) float64 { return after[s] - before[s] }

func (t *target) scrape(ctx context.Context) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseVmRSS reads VmRSS (in KB) from a /proc/<pid>/status text.
func parseVmRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no VmRSS line")
}

// rssKB is the node's resident set in KB: VmRSS from /proc when --pid is
// given (the figure the aim is stated in), else the process collector's.
func (t *target) rssKB(ctx context.Context) (int64, string, error) {
	if t.pid > 0 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", t.pid))
		if err != nil {
			return 0, "", err
		}
		kb, err := parseVmRSS(string(b))
		return kb, "VmRSS", err
	}
	m, err := t.scrape(ctx)
	if err != nil {
		return 0, "", err
	}
	return int64(m["process_resident_memory_bytes"] / 1024), "process_resident_memory_bytes", nil
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// window brackets a measurement: scrapes and CPU times at both ends.
type window struct {
	t        *target
	start    time.Time
	before   metrics
	after    metrics
	elapsed  time.Duration
	selfCPU0 float64
	selfCPU  float64 // client CPU seconds in the window
}

func (t *target) begin(ctx context.Context) (*window, error) {
	m, err := t.scrape(ctx)
	if err != nil {
		return nil, err
	}
	return &window{t: t, start: time.Now(), before: m, selfCPU0: cpuSeconds()}, nil
}

func (w *window) end(ctx context.Context) error {
	w.elapsed = time.Since(w.start)
	w.selfCPU = cpuSeconds() - w.selfCPU0
	m, err := w.t.scrape(ctx)
	w.after = m
	return err
}

// rate is a counter's increase per second over the window.
func (w *window) rate(s string) float64 { return delta(w.before, w.after, s) / w.elapsed.Seconds() }

// serverCores is the node's CPU use over the window, in cores.
func (w *window) serverCores() float64 { return w.rate("process_cpu_seconds_total") }

func (w *window) clientCores() float64 { return w.selfCPU / w.elapsed.Seconds() }

// cpuRows are the CPU figures every throughput scenario reports.
func (w *window) cpuRows() []row {
	return []row{
		{name: "node CPU (cores of 2)", value: fmt.Sprintf("%.2f", w.serverCores())},
		{name: "load tool CPU (cores of 2)", value: fmt.Sprintf("%.2f", w.clientCores())},
	}
}

func commas(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

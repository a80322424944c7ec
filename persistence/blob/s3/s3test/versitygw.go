package s3test

import (
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/outrider/outrider/persistence/blob/s3"
)

// How a versitygw is started and waited for.
const (
	// startAttempts: the free port is found by binding port 0 and closing
	// the listener, so another process can take it before versitygw
	// binds it (versitygw cannot report the port it got for ":0"). A
	// launch that fails is retried on a new port.
	startAttempts = 3
	// startTimeout bounds the wait for the health endpoint; versitygw
	// usually answers within 100 ms.
	startTimeout = 15 * time.Second
	pollInterval = 10 * time.Millisecond
	healthPath   = "/health"
)

// versitygw is a running versitygw process with its posix root.
type versitygw struct {
	srv     Server
	cmd     *exec.Cmd
	dir     string        // temporary: root/ is served, versitygw.log its output
	exited  chan struct{} // closed once the process has been waited for
	waitErr error         // cmd.Wait's answer; read after exited is closed
}

func startVersitygw() (*versitygw, error) {
	bin, err := findVersitygw()
	if err != nil {
		return nil, err
	}
	var errs []error
	for range startAttempts {
		gw, err := launch(bin)
		if err == nil {
			return gw, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// findVersitygw looks on PATH, then where `go install` puts binaries.
func findVersitygw() (string, error) {
	name := "versitygw"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs := goBinDirs()
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw is not on PATH nor in %s", strings.Join(dirs, ", "))
}

// goBinDirs lists where `go install` may have put a binary: GOBIN, else
// every GOPATH entry's bin. It asks the go command (which also knows
// `go env -w` settings) and falls back to the environment.
func goBinDirs() []string {
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			if gobin := strings.TrimSpace(lines[0]); gobin != "" {
				return []string{gobin}
			}
			return binDirs(strings.TrimSpace(lines[1]))
		}
	}
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		return []string{gobin}
	}
	return binDirs(build.Default.GOPATH)
}

func binDirs(gopath string) []string {
	var dirs []string
	for _, p := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	return dirs
}

// launch starts bin on a free loopback port with fresh root credentials
// and waits until it serves.
func launch(bin string) (_ *versitygw, err error) {
	dir, err := os.MkdirTemp("", "outrider-versitygw-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	srv := Server{
		Endpoint:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		AccessKey: "outrider" + randomString(6),
		SecretKey: randomString(20),
		Region:    s3.DefaultRegion,
	}
	cmd := exec.Command(bin,
		"--port", srv.Endpoint,
		"--region", srv.Region,
		"--health", healthPath,
		"--quiet", // no line per request
		"posix", root)
	cmd.Env = append(childEnv(), "ROOT_ACCESS_KEY="+srv.AccessKey, "ROOT_SECRET_KEY="+srv.SecretKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	gw := &versitygw{srv: srv, cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() {
		gw.waitErr = cmd.Wait()
		close(gw.exited)
	}()
	if err := gw.waitReady(); err != nil {
		gw.kill()
		return nil, err
	}
	return gw, nil
}

// childEnv is the environment without the variables that configure
// versitygw, so a developer's settings cannot change the test server.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VGW_") || strings.HasPrefix(kv, "ROOT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// waitReady polls the health endpoint until it answers 200, the process
// exits or startTimeout passes.
func (gw *versitygw) waitReady() error {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Second}
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if gw.healthy(client) {
			return nil
		}
		select {
		case <-gw.exited:
			return fmt.Errorf("versitygw exited before serving on %s (%v): %s", gw.srv.Endpoint, gw.waitErr, gw.log())
		case <-deadline.C:
			return fmt.Errorf("versitygw not serving on %s after %v: %s", gw.srv.Endpoint, startTimeout, gw.log())
		case <-tick.C:
		}
	}
}

func (gw *versitygw) healthy(client *http.Client) bool {
	resp, err := client.Get("http://" + gw.srv.Endpoint + healthPath)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// log is the process's output so far, for error messages.
func (gw *versitygw) log() string {
	b, err := os.ReadFile(filepath.Join(gw.dir, "versitygw.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(bytes.TrimSpace(b))
}

// kill ends the process and waits for it; the caller removes dir.
func (gw *versitygw) kill() {
	_ = gw.cmd.Process.Kill() // fails only if it has exited already
	<-gw.exited
}

// stop kills the process and removes its directory.
func (gw *versitygw) stop() {
	gw.kill()
	_ = os.RemoveAll(gw.dir)
}

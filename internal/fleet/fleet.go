// Package fleet runs `outrider serve` child processes on 127.0.0.1 that
// share one Postgres schema, one NATS namespace and one JetStream stream:
// a cluster on one machine, for the multi-node tests and the chaos harness
// (cmd/outrider-chaos).
//
// Start here: Build the binary (with -race for tests), New a Fleet, Start
// its nodes, WaitReady, talk to them through Node.Client, Kill, Term or
// Restart them, and Close the fleet, which stops every node and removes the
// schema and streams it created. Tests use fleet/fleettest, which does all
// of that and fails the test on any data race a child reports.
//
// The package does not import testing: a harness binary links it.
//
// Concurrency: a Fleet and its Nodes are safe for concurrent use. Fleet.mu
// guards the node table and the ports handed out; each Node's mu guards its
// current process. Neither is held while waiting for a process.
package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Membership providers a Fleet can give its nodes.
const (
	// ProviderNATS is serve's NATS membership: every node started with the
	// same NATS URL and namespace joins, nothing is listed. The default.
	ProviderNATS = "nats"
	// ProviderAutoManaged gives each node an automanaged health port and
	// every node the seed list of all nodes the fleet knows when it starts
	// (see Reserve, to include nodes that start later).
	ProviderAutoManaged = "automanaged"
)

// Defaults of Options.
const (
	DefaultName          = "fleet"
	DefaultPGURL         = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultNATSURL       = "nats://127.0.0.1:4222"
	DefaultJWTSecret     = "fleet-jwt-secret-0123456789abcdefghijklmn"
	DefaultAdminEmail    = "admin@fleet.test"
	DefaultAdminPassword = "fleet-admin-password"
	// DefaultGrace is how long Close and Restart let a node shut down on
	// SIGTERM before they kill it: above serve's shutdown timeout that the
	// fleet sets (10 s), so a graceful stop is never cut short.
	DefaultGrace = 15 * time.Second
)

// Options configure a Fleet. Every zero field takes the default named on it.
type Options struct {
	// Binary is the outrider executable the nodes run (see Build). Required.
	Binary string
	// Dir receives the nodes' logs (<node>-<run>.log) and race reports
	// (race/). Default: a new temporary directory, which Close leaves in
	// place so the logs can still be read.
	Dir string
	// Name starts the schema, namespace and stream names, so a leftover one
	// says who made it: [a-z0-9_]. Default "fleet".
	Name string
	// PGURL is the Postgres server. Default DefaultPGURL.
	PGURL string
	// NATSURL is the NATS server, with JetStream. Default DefaultNATSURL.
	NATSURL string
	// Provider is ProviderNATS (default) or ProviderAutoManaged.
	Provider string
	// JWTSecret, AdminEmail and AdminPassword are shared by every node.
	// Defaults DefaultJWTSecret, DefaultAdminEmail, DefaultAdminPassword.
	JWTSecret, AdminEmail, AdminPassword string
	// ServeDefaults starts the nodes with no OUTRIDER_CLUSTER_* setting at
	// all (only with ProviderNATS): serve's defaults alone must make them
	// one cluster. Node.ClusterAddr is then unknown ("").
	ServeDefaults bool
	// Env is added to every node's environment after the fleet's own
	// settings, so it overrides them; Start's env overrides it in turn.
	Env map[string]string
}

// Settings are what every node of a fleet shares.
type Settings struct {
	PGURL, Schema                        string
	NATSURL, Namespace, Stream           string
	Provider                             string
	JWTSecret, AdminEmail, AdminPassword string
	// Dir holds the logs and race reports.
	Dir string
}

// Fleet is a set of `outrider serve` processes sharing one schema, one NATS
// namespace and one stream. Make one with New; Close it.
type Fleet struct {
	opts Options
	set  Settings
	id   string // random, in every name the fleet creates

	mu     sync.Mutex
	nodes  map[string]*Node
	ports  map[int]bool // handed out, never handed out twice
	closed bool
}

var (
	nameRE     = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	nodeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

// New creates the fleet's Postgres schema and returns the fleet, with no
// node running yet.
func New(ctx context.Context, opts Options) (*Fleet, error) {
	if opts.Binary == "" {
		return nil, errors.New("fleet: Options.Binary is required (see Build)")
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if !nameRE.MatchString(opts.Name) {
		return nil, fmt.Errorf("fleet: name %q is not [a-z][a-z0-9_]*", opts.Name)
	}
	opts.PGURL = or(opts.PGURL, DefaultPGURL)
	opts.NATSURL = or(opts.NATSURL, DefaultNATSURL)
	opts.Provider = or(opts.Provider, ProviderNATS)
	if opts.Provider != ProviderNATS && opts.Provider != ProviderAutoManaged {
		return nil, fmt.Errorf("fleet: provider %q is not %s or %s", opts.Provider, ProviderNATS, ProviderAutoManaged)
	}
	opts.JWTSecret = or(opts.JWTSecret, DefaultJWTSecret)
	opts.AdminEmail = or(opts.AdminEmail, DefaultAdminEmail)
	opts.AdminPassword = or(opts.AdminPassword, DefaultAdminPassword)
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "outrider-fleet-run-")
		if err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
		opts.Dir = d
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "race"), 0o755); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	schema := opts.Name + "_" + id
	f := &Fleet{
		opts: opts,
		id:   id,
		set: Settings{
			PGURL: opts.PGURL, Schema: schema,
			NATSURL: opts.NATSURL, Namespace: schema + ".", Stream: strings.ToUpper(schema),
			Provider:  opts.Provider,
			JWTSecret: opts.JWTSecret, AdminEmail: opts.AdminEmail, AdminPassword: opts.AdminPassword,
			Dir: opts.Dir,
		},
		nodes: map[string]*Node{},
		ports: map[int]bool{},
	}
	if err := f.pgExec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return nil, fmt.Errorf("fleet: create schema %s: %w", schema, err)
	}
	return f, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Settings returns what every node of the fleet shares.
func (f *Fleet) Settings() Settings { return f.set }

// Reserve makes room for a node that starts later: with the automanaged
// provider its health port is in the seed list of every node started from
// now on, so they find it when it comes (automanaged never learns of a node
// outside its list). Reserving a known name does nothing.
func (f *Fleet) Reserve(name string) (*Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reserveLocked(name)
}

func (f *Fleet) reserveLocked(name string) (*Node, error) {
	if f.closed {
		return nil, errors.New("fleet: closed")
	}
	if n := f.nodes[name]; n != nil {
		return n, nil
	}
	if !nodeNameRE.MatchString(name) {
		return nil, fmt.Errorf("fleet: node name %q is not [a-z0-9][a-z0-9_-]*", name)
	}
	n := &Node{f: f, name: name}
	var err error
	if n.httpPort, err = f.freePortLocked(); err != nil {
		return nil, err
	}
	if n.clusterPort, err = f.freePortLocked(); err != nil {
		return nil, err
	}
	if f.set.Provider == ProviderAutoManaged {
		if n.amPort, err = f.freePortLocked(); err != nil {
			return nil, err
		}
	}
	f.nodes[name] = n
	return n, nil
}

// freePortLocked returns a loopback port that was free a moment ago and
// that this fleet has not handed out before.
func (f *Fleet) freePortLocked() (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("fleet: free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if !f.ports[port] {
			f.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("fleet: no free port")
}

// Start starts node name (reserved or new) with env on top of the fleet's
// settings and returns at once; see Node.WaitReady. A node that is already
// running is an error: use Restart.
func (f *Fleet) Start(name string, env map[string]string) (*Node, error) {
	f.mu.Lock()
	n, err := f.reserveLocked(name)
	var seeds []string
	if err == nil && f.set.Provider == ProviderAutoManaged {
		seeds = f.seedsLocked()
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := n.start(env, seeds); err != nil {
		return nil, err
	}
	return n, nil
}

// seedsLocked lists the automanaged health endpoints of every node known.
func (f *Fleet) seedsLocked() []string {
	var seeds []string
	for _, n := range f.nodes {
		seeds = append(seeds, "127.0.0.1:"+strconv.Itoa(n.amPort))
	}
	sort.Strings(seeds)
	return seeds
}

// Node returns the node of that name, or nil.
func (f *Fleet) Node(name string) *Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodes[name]
}

// Nodes returns every node started or reserved, by name.
func (f *Fleet) Nodes() []*Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*Node, 0, len(f.nodes))
	for _, n := range f.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Running returns the nodes whose process is up (ready or not).
func (f *Fleet) Running() []*Node {
	var out []*Node
	for _, n := range f.Nodes() {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// env is the environment of a node's process: the parent's without any
// OUTRIDER_* or GORACE setting, then the fleet's settings, Options.Env and
// the node's own env, later ones winning.
func (f *Fleet) env(n *Node, extra map[string]string, seeds []string, raceLog string) []string {
	set := map[string]string{
		"OUTRIDER_PG_URL":               f.set.PGURL,
		"OUTRIDER_PG_SCHEMA":            f.set.Schema,
		"OUTRIDER_PG_MAX_CONNS":         "8",
		"OUTRIDER_NATS_URL":             f.set.NATSURL,
		"OUTRIDER_NATS_NAMESPACE":       f.set.Namespace,
		"OUTRIDER_NATS_STREAM":          f.set.Stream,
		"OUTRIDER_HTTP_ADDR":            n.Addr(),
		"OUTRIDER_JWT_SECRET":           f.set.JWTSecret,
		"OUTRIDER_ADMIN_EMAIL":          f.set.AdminEmail,
		"OUTRIDER_ADMIN_PASSWORD":       f.set.AdminPassword,
		"OUTRIDER_BCRYPT_COST":          "4",
		"OUTRIDER_RATE_PER_SECOND":      "1000000",
		"OUTRIDER_RATE_BURST":           "1000000",
		"OUTRIDER_AUTH_RATE_PER_SECOND": "1000000",
		"OUTRIDER_AUTH_RATE_BURST":      "1000000",
		"OUTRIDER_CLUSTER_PROVIDER":     f.set.Provider,
		"OUTRIDER_CLUSTER_HOST":         "127.0.0.1",
		"OUTRIDER_CLUSTER_PORT":         strconv.Itoa(n.clusterPort),
		"OUTRIDER_SHUTDOWN_TIMEOUT":     "10s",
		"OUTRIDER_LOG_LEVEL":            "info",
		"GORACE":                        "log_path=" + raceLog + " halt_on_error=0",
	}
	if f.opts.ServeDefaults && f.set.Provider == ProviderNATS {
		for k := range set {
			if strings.HasPrefix(k, "OUTRIDER_CLUSTER_") {
				delete(set, k)
			}
		}
	}
	if f.set.Provider == ProviderAutoManaged {
		set["OUTRIDER_CLUSTER_AUTOMANAGED_PORT"] = strconv.Itoa(n.amPort)
		set["OUTRIDER_CLUSTER_SEEDS"] = strings.Join(seeds, ",")
	}
	for k, v := range f.opts.Env {
		set[k] = v
	}
	for k, v := range extra {
		set[k] = v
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OUTRIDER_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+set[k])
	}
	return env
}

// Close stops every node (SIGTERM, then SIGKILL after DefaultGrace or at
// ctx's deadline), drops the schema and deletes every JetStream stream
// (key-value buckets included) whose name carries the fleet's id. It keeps
// Dir. Calling it again does nothing more.
func (f *Fleet) Close(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()

	grace := DefaultGrace
	if d, ok := ctx.Deadline(); ok {
		grace = min(grace, time.Until(d)/2)
	}
	var wg sync.WaitGroup
	for _, n := range f.Nodes() {
		wg.Go(func() { n.Term(grace) })
	}
	wg.Wait()

	var errs []error
	if err := f.pgExec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{f.set.Schema}.Sanitize()+" CASCADE"); err != nil {
		errs = append(errs, fmt.Errorf("fleet: drop schema %s: %w", f.set.Schema, err))
	}
	if err := DeleteStreams(ctx, f.set.NATSURL, f.id); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (f *Fleet) pgExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, f.set.PGURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// DeleteStreams deletes the streams of the NATS server at url whose name
// holds id (case-insensitive): a test deployment's events stream, the
// workers' _WEBHOOKS and _DLQ, and the key-value buckets of its namespace
// (the cluster's member directory).
func DeleteStreams(ctx context.Context, url, id string) error {
	id = strings.ToLower(id)
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("fleet: delete streams: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("fleet: delete streams: %w", err)
	}
	var doomed []string
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if strings.Contains(strings.ToLower(name), id) {
			doomed = append(doomed, name)
		}
	}
	if err := names.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return fmt.Errorf("fleet: list streams: %w", err)
	}
	var errs []error
	for _, name := range doomed {
		if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("fleet: delete stream %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

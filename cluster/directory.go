package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/nats-io/nats.go/jetstream"
)

// The directory: every member publishes a record of itself to a JetStream
// key-value bucket of the node's NATS namespace — its addresses, roles,
// when it joined, its activations and sockets — once per heartbeat, and
// watches the bucket for everyone else's. A record not renewed within the
// member TTL is dead; a member that stops gracefully deletes its record,
// so it is gone at once. With ProviderNATS the live records are the
// cluster membership itself (nothing to list anywhere); with the other
// providers they only describe the members for GET /v1/cluster.
//
// Liveness is judged by this node's own clock (when it last received a
// renewal), never by comparing the writers' clocks.

// MemberInfo describes one member, as GET /v1/cluster shows it.
type MemberInfo struct {
	// ID is the member's id in the actor cluster (new at every start).
	ID string `json:"id"`
	// ClusterAddress is the host:port of its actor remote.
	ClusterAddress string `json:"cluster_address"`
	// HTTPAddress is where it serves the API, as it advertises it.
	HTTPAddress string `json:"http_address,omitempty"`
	// Roles are the roles it plays ("api", "worker").
	Roles []string `json:"roles"`
	// Kinds are the actor kinds it hosts.
	Kinds []string `json:"kinds"`
	// JoinedAt is when it started.
	JoinedAt time.Time `json:"joined_at"`
	// Activations counts its live actors by kind.
	Activations map[string]int `json:"activations"`
	// Sockets is its open WebSocket sessions.
	Sockets int `json:"sockets"`
	// HeartbeatAt is the writer's clock at its last renewal.
	HeartbeatAt time.Time `json:"heartbeat_at"`
}

// MemberStatus is what the rest of the node adds to its member record.
type MemberStatus struct {
	HTTPAddress string
	Roles       []string
	Sockets     int
}

// directory publishes this member's record and tracks everyone's.
type directory struct {
	kv        jetstream.KeyValue
	self      MemberInfo
	heartbeat time.Duration
	ttl       time.Duration
	status    func() MemberStatus
	counts    func() map[string]int
	onChange  func([]MemberInfo) // called from the watch goroutine only
	log       *slog.Logger

	// reporting serialises changed, so reports reach onChange in the
	// order their member sets were computed.
	reporting sync.Mutex
	mu        sync.Mutex
	records   map[string]MemberInfo // by id
	seen      map[string]time.Time  // by id: local time of the last renewal
	live      []string              // ids passed to onChange last

	cancel   context.CancelFunc
	done     sync.WaitGroup
	stopOnce sync.Once

	probing sync.Map // cluster addresses being checked by suspect
}

// bucketName is the directory's bucket for a NATS namespace and cluster
// name: bucket names allow letters, digits, '-' and '_' only.
func bucketName(namespace, cluster string) string {
	clean := regexp.MustCompile(`[^A-Za-z0-9_-]+`)
	name := "OUTRIDER_MEMBERS_" + strings.ToUpper(clean.ReplaceAllString(cluster, "_"))
	if ns := strings.Trim(clean.ReplaceAllString(namespace, "_"), "_"); ns != "" {
		name += "_" + ns
	}
	return name
}

// openDirectory creates (or opens) the bucket. Records live in memory on
// the NATS server: they are renewed every second, and the bucket drops
// any entry older than a minute, so a dead member's record is removed even
// if no member is left to notice.
func openDirectory(ctx context.Context, js jetstream.JetStream, namespace, cluster string) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucketName(namespace, cluster),
		Description: "Outrider cluster members (one record per node, renewed every heartbeat)",
		History:     1,
		TTL:         time.Minute,
		Storage:     jetstream.MemoryStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: member directory bucket: %w", err)
	}
	return kv, nil
}

// start publishes the first record and starts renewing and watching.
// It returns once the watcher has delivered the bucket's current records.
func (d *directory) start(ctx context.Context) error {
	d.records, d.seen = map[string]MemberInfo{}, map[string]time.Time{}
	if err := d.publish(ctx); err != nil {
		return err
	}
	w, err := d.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("cluster: watch member directory: %w", err)
	}
	run, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	initial := make(chan struct{})
	d.done.Add(2)
	go func() {
		defer d.done.Done()
		defer func() { _ = w.Stop() }()
		d.watch(run, w, initial)
	}()
	go func() {
		defer d.done.Done()
		d.renew(run)
	}()
	select {
	case <-initial:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: reading member directory: %w", ctx.Err())
	}
}

// stop ends renewing and watching and, when graceful, deletes this
// member's record so the others drop it at once.
func (d *directory) stop(graceful bool) {
	if d.cancel == nil {
		return
	}
	d.stopOnce.Do(func() { d.leave(graceful) })
}

func (d *directory) leave(graceful bool) {
	d.cancel()
	d.done.Wait()
	if graceful {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := d.kv.Delete(ctx, d.self.ID); err != nil {
			d.log.Warn("cluster: delete own member record", slog.Any("error", err))
		}
	}
}

// publish writes this member's record as of now.
func (d *directory) publish(ctx context.Context) error {
	rec := d.self
	st := d.status()
	rec.HTTPAddress, rec.Roles, rec.Sockets = st.HTTPAddress, st.Roles, st.Sockets
	rec.Activations = d.counts()
	rec.HeartbeatAt = time.Now().UTC()
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := d.kv.Put(ctx, rec.ID, b); err != nil {
		return fmt.Errorf("cluster: publish member record: %w", err)
	}
	return nil
}

// renew republishes the record every heartbeat and prunes records that
// were not renewed within the TTL.
func (d *directory) renew(ctx context.Context) {
	t := time.NewTicker(d.heartbeat)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, d.heartbeat)
		err := d.publish(pctx)
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			failing = true
			d.log.Warn("cluster: member record not renewed", slog.Any("error", err))
		case err == nil && failing:
			failing = false
			d.log.Info("cluster: member record renewed again")
		}
		d.changed(time.Now())
	}
}

// watch applies every update of the bucket. It closes initial once the
// records present at start have been delivered.
func (d *directory) watch(ctx context.Context, w jetstream.KeyWatcher, initial chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // the end of the initial values
				d.changed(time.Now())
				close(initial)
				continue
			}
			d.apply(e)
		}
	}
}

// apply records one bucket entry.
func (d *directory) apply(e jetstream.KeyValueEntry) {
	id := e.Key()
	d.mu.Lock()
	switch e.Operation() {
	case jetstream.KeyValuePut:
		var rec MemberInfo
		if err := json.Unmarshal(e.Value(), &rec); err != nil || rec.ID != id {
			d.mu.Unlock()
			d.log.Warn("cluster: ignoring a malformed member record", slog.String("key", id))
			return
		}
		_, known := d.records[id]
		d.records[id] = rec
		d.seen[id] = time.Now()
		d.mu.Unlock()
		if !known {
			d.changed(time.Now())
		}
	default: // deleted or purged: the member left
		_, known := d.records[id]
		delete(d.records, id)
		delete(d.seen, id)
		d.mu.Unlock()
		if known {
			d.changed(time.Now())
		}
	}
}

// changed drops records not renewed within the TTL and, when the set of
// live members differs from the last one reported, reports it.
func (d *directory) changed(now time.Time) {
	d.reporting.Lock()
	defer d.reporting.Unlock()
	d.mu.Lock()
	var live []MemberInfo
	var ids []string
	for id, rec := range d.records {
		if now.Sub(d.seen[id]) > d.ttl {
			delete(d.records, id)
			delete(d.seen, id)
			continue
		}
		live = append(live, rec)
		ids = append(ids, id)
	}
	slices.Sort(ids)
	same := slices.Equal(ids, d.live)
	d.live = ids
	d.mu.Unlock()
	if !same && d.onChange != nil {
		d.onChange(live)
	}
}

// members returns the live records, sorted by joined time.
func (d *directory) members() []MemberInfo {
	d.mu.Lock()
	out := make([]MemberInfo, 0, len(d.records))
	for _, rec := range d.records {
		out = append(out, rec)
	}
	d.mu.Unlock()
	slices.SortFunc(out, func(a, b MemberInfo) int {
		if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// suspect checks a member whose connection this node just lost (the
// library's EndpointTerminatedEvent): when its remote port refuses
// connections, the process is gone — a killed process's port refuses at
// once, a merely slow or unreachable one does not — so its record is
// deleted and every member drops it now instead of after MemberTTL. A
// process being killed may still accept for a few milliseconds, so the
// port is tried suspectTries times, suspectEvery apart; any other answer
// leaves the record to its TTL. Runs on its own goroutine.
func (d *directory) suspect(addr string) {
	if _, busy := d.probing.LoadOrStore(addr, true); busy {
		return
	}
	defer d.probing.Delete(addr)
	id := d.idAt(addr)
	if id == "" || id == d.self.ID {
		return
	}
	for try := 0; try < suspectTries; try++ {
		if try > 0 {
			time.Sleep(suspectEvery)
			if d.idAt(addr) != id {
				return // gone already, or another process took the address
			}
		}
		conn, err := net.DialTimeout("tcp", addr, d.heartbeat)
		if err == nil {
			_ = conn.Close()
			continue
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		d.log.Info("cluster: a member's remote port refuses connections; removing its record",
			slog.String("member", id), slog.String("address", addr))
		ctx, cancel := context.WithTimeout(context.Background(), d.heartbeat)
		defer cancel()
		if err := d.kv.Delete(ctx, id); err != nil {
			d.log.Warn("cluster: delete a dead member's record", slog.String("member", id), slog.Any("error", err))
		}
		return
	}
}

// suspectTries and suspectEvery bound how long suspect keeps trying a
// port that still accepts: a second in all.
const (
	suspectTries = 10
	suspectEvery = 100 * time.Millisecond
)

// idAt is the id of the live record at a cluster address, or "".
func (d *directory) idAt(addr string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, rec := range d.records {
		if rec.ClusterAddress == addr {
			return id
		}
	}
	return ""
}

// natsProvider is the ProviderNATS membership: the directory's live
// records are the members.
type natsProvider struct {
	dir *directory
	ctx context.Context
}

var _ pcluster.ClusterProvider = (*natsProvider)(nil)

func (p *natsProvider) StartMember(c *pcluster.Cluster) error {
	p.dir.self.ClusterAddress = c.ActorSystem.Address()
	p.dir.onChange = func(live []MemberInfo) {
		members := make([]*pcluster.Member, 0, len(live))
		for _, rec := range live {
			m, err := libraryMember(rec)
			if err != nil {
				p.dir.log.Warn("cluster: ignoring a member record", slog.String("id", rec.ID), slog.Any("error", err))
				continue
			}
			members = append(members, m)
		}
		c.MemberList.UpdateClusterTopology(members)
	}
	return p.dir.start(p.ctx)
}

func (p *natsProvider) StartClient(*pcluster.Cluster) error {
	return errors.New("cluster: the nats provider runs members only")
}

func (p *natsProvider) Shutdown(graceful bool) error {
	p.dir.stop(graceful)
	return nil
}

// libraryMember turns a record into the library's member.
func libraryMember(rec MemberInfo) (*pcluster.Member, error) {
	host, portText, err := net.SplitHostPort(rec.ClusterAddress)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseInt(portText, 10, 32)
	if err != nil {
		return nil, err
	}
	return &pcluster.Member{Id: rec.ID, Host: host, Port: int32(port), Kinds: rec.Kinds}, nil
}

// Status is the cluster as this node sees it, for GET /v1/cluster and
// `outrider cluster status`.
type Status struct {
	// Self is this node's member id.
	Self string `json:"self"`
	// Provider is the membership provider in use.
	Provider string `json:"provider"`
	// Members are the live members, oldest first.
	Members []MemberView `json:"members"`
}

// MemberView is one member as this node sees it.
type MemberView struct {
	MemberInfo
	// Self marks this node.
	Self bool `json:"self"`
	// InTopology reports whether this node routes actors to the member.
	// A live record outside the topology is a member joining, or one the
	// membership dropped; with ProviderNATS the two agree within a
	// heartbeat.
	InTopology bool `json:"in_topology"`
}

// Status merges the member directory with this node's topology: every
// member of either, each record completed with whether it is routed to.
func (n *Node) Status() Status {
	st := Status{Self: n.ID(), Provider: n.cfg.Provider, Members: []MemberView{}}
	inTopology := map[string]bool{}
	for _, a := range n.Members() {
		inTopology[a] = true
	}
	seen := map[string]bool{}
	for _, rec := range n.Directory() {
		st.Members = append(st.Members, MemberView{MemberInfo: rec, Self: rec.ID == st.Self,
			InTopology: inTopology[rec.ClusterAddress]})
		seen[rec.ClusterAddress] = true
	}
	self := n.Addr()
	for a := range inTopology {
		if !seen[a] { // a member without a record (no directory, or not renewed yet)
			st.Members = append(st.Members, MemberView{MemberInfo: MemberInfo{ClusterAddress: a}, Self: a == self,
				InTopology: true})
		}
	}
	return st
}

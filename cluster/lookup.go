package cluster

import (
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/prometheus/client_golang/prometheus"
)

// identityLookup is the library's disthash identity lookup (rendezvous
// hashing of identities over the members that host the kind, one
// placement actor per member that spawns and tracks activations), adapted
// from protoactor-go's cluster/identitylookup/disthash (Apache-2.0) to fix
// bugs of the pinned version:
//
//   - disthash replaces its Rendezvous pointer on every topology change
//     without synchronisation and publishes it before filling it, a data
//     race with every concurrent Get (go test -race reports it as soon as a
//     member joins under traffic). Here one Rendezvous, which has its own
//     lock, is updated in place.
//   - disthash's placement actor dereferences nil when it is told of a
//     child's termination it does not know, and then restarts, forgetting
//     every activation it tracked (which then run twice). Here unknown
//     terminations are ignored.
//   - disthash waits a hard-coded 5s for the placement actor; here it
//     waits the cluster's request timeout.
//   - Shutdown is idempotent (the library calls it twice).
//
// It keeps disthash's wire contract (the placement actor's name and the
// ActivationRequest/ActivationResponse messages), so members running the
// library's disthash and this one interoperate.
type identityLookup struct {
	cluster   *pcluster.Cluster
	props     map[string]*actor.Props // each kind's own, by name
	rdv       *pcluster.Rendezvous
	placement *actor.PID
	sub       *eventstream.Subscription
	stopOnce  sync.Once
	moved     prometheus.Counter // activations passivated because another member owns them now
}

var _ pcluster.IdentityLookup = (*identityLookup)(nil)

// placementActorName is disthash's name for the placement actor.
const placementActorName = "partition-activator"

// newIdentityLookup places activations of the kinds whose Props are
// given by name.
func newIdentityLookup(props map[string]*actor.Props, moved prometheus.Counter) *identityLookup {
	return &identityLookup{rdv: pcluster.NewRendezvous(), props: props, moved: moved}
}

func (l *identityLookup) Setup(c *pcluster.Cluster, _ []string, _ bool) {
	l.cluster = c
	props := actor.PropsFromProducer(func() actor.Actor {
		return &placementActor{cluster: c, props: l.props, actors: map[string]placed{}, byPID: map[string]string{}, moved: l.moved}
	})
	l.placement, _ = c.ActorSystem.Root.SpawnNamed(props, placementActorName)
	l.sub = c.ActorSystem.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*pcluster.ClusterTopology); ok {
			l.rdv.UpdateMembers(t.Members)
			c.ActorSystem.Root.Send(l.placement, t)
		}
	})
}

func (l *identityLookup) Shutdown() {
	l.stopOnce.Do(func() {
		system := l.cluster.ActorSystem
		system.EventStream.Unsubscribe(l.sub)
		if err := system.Root.PoisonFuture(l.placement).Wait(); err != nil {
			l.cluster.Logger().Error("stopping placement actor", slog.Any("error", err))
		}
	})
}

func (l *identityLookup) Get(ci *pcluster.ClusterIdentity) *actor.PID {
	owner := l.rdv.GetByClusterIdentity(ci)
	if owner == "" {
		return nil
	}
	timeout := l.cluster.Config.RequestTimeoutTime
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	res, err := l.cluster.ActorSystem.Root.RequestFuture(actor.NewPID(owner, placementActorName),
		&pcluster.ActivationRequest{ClusterIdentity: ci}, timeout).Result()
	if err != nil {
		return nil
	}
	if r, ok := res.(*pcluster.ActivationResponse); ok {
		return r.Pid
	}
	return nil
}

func (l *identityLookup) RemovePid(ci *pcluster.ClusterIdentity, pid *actor.PID) {
	l.cluster.MemberList.BroadcastEvent(&pcluster.ActivationTerminated{Pid: pid, ClusterIdentity: ci}, true)
}

// placed is one activation the placement actor spawned.
type placed struct {
	id  *pcluster.ClusterIdentity
	pid *actor.PID
}

// placementActor spawns this member's activations and is their parent; it
// alone owns the actors map.
type placementActor struct {
	cluster *pcluster.Cluster
	props   map[string]*actor.Props
	actors  map[string]placed // by ClusterIdentity.AsKey()
	byPID   map[string]string // PID Id → ClusterIdentity.AsKey(), so a termination is O(1)
	moved   prometheus.Counter
}

func (p *placementActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Stopping:
		p.stopAll(ctx)
	case *actor.Terminated:
		p.onTerminated(msg.Who)
	case *pcluster.ActivationRequest:
		p.activate(ctx, msg)
	case *pcluster.ClusterTopology:
		p.rebalance(ctx, msg)
	}
}

// stopAll passivates every activation and waits for them, so a graceful
// shutdown lets each actor finish its current message.
func (p *placementActor) stopAll(ctx actor.Context) {
	futures := make([]*actor.Future, 0, len(p.actors))
	for _, a := range p.actors {
		futures = append(futures, ctx.PoisonFuture(a.pid))
	}
	for _, f := range futures {
		if err := f.Wait(); err != nil {
			ctx.Logger().Warn("stopping activation", slog.Any("error", err))
		}
	}
}

func (p *placementActor) onTerminated(who *actor.PID) {
	// Every PID here is a child this actor spawned on its own member, so
	// the Id alone names it.
	pk := who.Id
	key, ok := p.byPID[pk]
	if !ok {
		return
	}
	delete(p.byPID, pk)
	a := p.actors[key]
	delete(p.actors, key)
	// What the library's cluster middleware does when an activation that
	// carries its identity in its context stops.
	p.cluster.PidCache.RemoveByValue(a.id.Identity, a.id.Kind, who)
	if k, ok := p.cluster.TryGetClusterKind(a.id.Kind); ok {
		k.Dec()
	}
	p.cluster.MemberList.BroadcastEvent(&pcluster.ActivationTerminated{Pid: who, ClusterIdentity: a.id}, true)
}

func (p *placementActor) activate(ctx actor.Context, msg *pcluster.ActivationRequest) {
	key := msg.ClusterIdentity.AsKey()
	if a, ok := p.actors[key]; ok {
		ctx.Respond(&pcluster.ActivationResponse{Pid: a.pid})
		return
	}
	kind, ok := p.cluster.TryGetClusterKind(msg.ClusterIdentity.Kind)
	props := p.props[msg.ClusterIdentity.Kind]
	if !ok || props == nil {
		ctx.Logger().Warn("activation of unknown kind", slog.String("kind", msg.ClusterIdentity.Kind))
		ctx.Respond(&pcluster.ActivationResponse{Failed: true})
		return
	}
	// The kind's own Props, not the library's kind.Props: those carry a
	// middleware that reads the identity from a context extension, set
	// through pcluster.WithClusterIdentity, which clones the Props for
	// every activation — half a kilobyte each idle actor would keep. The
	// identity reaches the activation as its first message instead
	// (whoever else messages it learns its PID from the response below,
	// so this comes first), and onTerminated does the middleware's
	// clean-up.
	pid := ctx.SpawnPrefix(props, msg.ClusterIdentity.Identity)
	ctx.Send(pid, &pcluster.ClusterInit{Identity: msg.ClusterIdentity, Cluster: p.cluster})
	kind.Inc()
	p.actors[key] = placed{id: msg.ClusterIdentity, pid: pid}
	p.byPID[pid.Id] = key
	ctx.Respond(&pcluster.ActivationResponse{Pid: pid})
}

// rebalance passivates the activations another member now owns; the next
// request activates them there.
func (p *placementActor) rebalance(ctx actor.Context, t *pcluster.ClusterTopology) {
	rdv := pcluster.NewRendezvous()
	rdv.UpdateMembers(t.Members)
	self := p.cluster.ActorSystem.Address()
	for _, a := range p.actors {
		if rdv.GetByClusterIdentity(a.id) != self {
			p.moved.Inc()
			ctx.Poison(a.pid)
		}
	}
}

package host

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/dispatch/geo"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Zone actors. A zone actor (kind actors.KindZone, identity a key of
// geo.ZoneOf) holds a geo.Index of the drivers whose last accepted fix
// fell in its zone. It is fed by the driver actors (fix, in driver kind's
// decide; availability and capacity, after their commit) and read by GET
// /v1/drivers/nearby, which asks every zone a circle reaches.
//
// It is memory only, like a driver actor's last location: nothing is
// loaded or journaled. An idle zone passivates after IdleTimeout like any
// activation and forgets its drivers; since an online driver sends a fix
// every few seconds, a zone that still has drivers is never idle that
// long, and one that passivated is refilled by the next fixes sent into
// it. A driver whose fixes stop (socket closed, phone off) stays at his
// last position until his zone passivates; the query's max_fix_age_ms is
// how a reader drops such drivers.

// ZoneTeller sends a message to a zone actor, fire-and-forget (the node
// uses a cluster Tell). It is called from driver actors and must not block.
type ZoneTeller interface {
	TellZone(zone string, msg *pb.ZoneMessage)
}

// zoneState is a zone's index and the pure handling of its messages,
// tested without actors.
type zoneState struct {
	ix *geo.Index
}

func newZoneState() *zoneState {
	// One shard: the actor's mailbox already serialises every access.
	return &zoneState{ix: geo.New(geo.Options{Shards: 1})}
}

// handle applies an update or removal (answering nil) or answers a query.
func (z *zoneState) handle(msg *pb.ZoneMessage, now time.Time) *pb.ZoneHits {
	switch b := msg.GetBody().(type) {
	case *pb.ZoneMessage_Update:
		u := b.Update
		// An invalid point cannot come from an accepted fix; drop it.
		_ = z.ix.Upsert(geo.Driver{ID: u.DriverId, Lat: u.Lat, Lng: u.Lng, FixAt: time.UnixMilli(u.FixTsMs),
			Available: u.Available, Spare: int(u.Capacity)})
	case *pb.ZoneMessage_Remove:
		z.ix.Remove(b.Remove.DriverId)
	case *pb.ZoneMessage_Nearest:
		return z.nearest(b.Nearest, now)
	}
	return nil
}

func (z *zoneState) nearest(q *pb.ZoneNearest, now time.Time) *pb.ZoneHits {
	gq := geo.Query{Lat: q.Lat, Lng: q.Lng, RadiusM: q.RadiusM, Limit: int(q.Limit),
		MaxFixAge: time.Duration(q.MaxFixAgeMs) * time.Millisecond, Now: now, AvailableOnly: q.AvailableOnly}
	if len(q.Exclude) > 0 {
		ex := make(map[string]bool, len(q.Exclude))
		for _, id := range q.Exclude {
			ex[id] = true
		}
		gq.Exclude = func(id string) bool { return ex[id] }
	}
	hits, err := z.ix.Nearest(gq)
	if err != nil { // geo.ErrInvalid: the caller validates, so a bug
		return &pb.ZoneHits{Error: err.Error()}
	}
	out := &pb.ZoneHits{Hits: make([]*pb.ZoneHit, len(hits))}
	for i, h := range hits {
		out.Hits[i] = &pb.ZoneHit{DriverId: h.ID, Lat: h.Lat, Lng: h.Lng, DistanceM: h.DistanceM,
			FixTsMs: h.FixAt.UnixMilli(), Available: h.Available}
	}
	return out
}

// ZoneProps are the props of the zone kind: it accepts *pb.ZoneMessage;
// a requested one (a query) is answered with *pb.ZoneHits.
func (h *Host) ZoneProps() *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &zoneActor{h: h} },
		actor.WithMailbox(actor.UnboundedLockfree()), actor.WithDispatcher(mailboxRuns))
}

type zoneActor struct {
	idleClock
	h    *Host
	id   string
	zone *zoneState
}

func (a *zoneActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
		a.zone = newZoneState()
		a.h.idle.add(&a.idleClock)
		a.h.metrics.activations.WithLabelValues(actors.KindZone).Inc()
		a.h.metrics.active.WithLabelValues(actors.KindZone).Inc()
	case *pcluster.ClusterInit:
		if msg.Identity != nil {
			a.id = msg.Identity.Identity
		}
	case idleCheck:
		if a.idleFor(time.Now()) >= a.h.cfg.IdleTimeout {
			ctx.Stop(ctx.Self())
		}
	case *actor.Stopped:
		a.h.idle.remove(&a.idleClock)
		a.h.metrics.active.WithLabelValues(actors.KindZone).Dec()
	case *pb.ZoneMessage:
		a.touch()
		reply := a.zone.handle(msg, time.Now())
		if ctx.Sender() != nil {
			if reply == nil {
				reply = &pb.ZoneHits{}
			}
			ctx.Respond(reply)
		}
	}
}

// tellZones feeds the zones from a driver's state: prev is the state
// before an accepted fix or a committed change, next the state after. The
// driver is placed in the zone of his newest fix and, when that zone is
// not the one of his previous fix, removed from the old one. A driver
// with no fix yet is in no zone. Nothing here waits: each is a Tell.
func (h *Host) tellZones(id string, prev, next *pb.DriverState) {
	if h.cfg.Zones == nil || next.GetLastLocation() == nil {
		return
	}
	f := next.GetLastLocation()
	zone := geo.ZoneOf(f.Lat, f.Lng)
	if zone == "" {
		return
	}
	if p := prev.GetLastLocation(); p != nil {
		if old := geo.ZoneOf(p.Lat, p.Lng); old != "" && old != zone {
			h.cfg.Zones.TellZone(old, &pb.ZoneMessage{Body: &pb.ZoneMessage_Remove{Remove: &pb.ZoneRemove{DriverId: id}}})
		}
	}
	h.cfg.Zones.TellZone(zone, &pb.ZoneMessage{Body: &pb.ZoneMessage_Update{Update: &pb.ZoneUpdate{
		DriverId: id, Lat: f.Lat, Lng: f.Lng, FixTsMs: f.TsMs, Available: next.GetAvailable(), Capacity: next.GetCapacity(),
	}}})
}

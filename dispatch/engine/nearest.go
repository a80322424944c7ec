package engine

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/outrider/outrider/dispatch/geo"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Zones asks a zone actor (the cluster's typed client does).
type Zones interface {
	Zone(ctx context.Context, zone string, msg *pb.ZoneMessage) (*pb.ZoneHits, error)
}

// ZoneConcurrency bounds the zone requests in flight for one query.
const ZoneConcurrency = 16

// Nearest asks every zone the query's circle reaches, concurrently, for
// its nearest q.Limit drivers, and merges them: one hit per driver (the
// newest fix, should a driver linger in a zone he left), ordered by
// distance then id, at most q.Limit. GET /v1/drivers/nearby and the
// dispatch rounds both search this way.
func Nearest(ctx context.Context, zones Zones, q *pb.ZoneNearest) ([]*pb.ZoneHit, error) {
	msg := &pb.ZoneMessage{Body: &pb.ZoneMessage_Nearest{Nearest: q}}
	var mu sync.Mutex
	best := map[string]*pb.ZoneHit{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ZoneConcurrency)
	for _, zone := range geo.ZonesFor(q.Lat, q.Lng, q.RadiusM) {
		g.Go(func() error {
			reply, err := zones.Zone(gctx, zone, msg)
			if err != nil {
				return err
			}
			if reply.GetError() != "" {
				return errors.New("zone " + zone + ": " + reply.GetError())
			}
			mu.Lock()
			defer mu.Unlock()
			for _, h := range reply.GetHits() {
				if had, ok := best[h.DriverId]; !ok || h.FixTsMs > had.FixTsMs {
					best[h.DriverId] = h
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	hits := make([]*pb.ZoneHit, 0, len(best))
	for _, h := range best {
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b *pb.ZoneHit) int {
		return cmp.Or(cmp.Compare(a.DistanceM, b.DistanceM), cmp.Compare(a.DriverId, b.DriverId))
	})
	return hits[:min(len(hits), int(q.Limit))], nil
}

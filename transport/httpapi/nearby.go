package httpapi

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/outrider/outrider/dispatch/engine"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// Limits of GET /v1/drivers/nearby.
const (
	// nearbyMaxRadiusM bounds the circle: 50 km reaches at most a few
	// dozen zones (geo.ZoneDeg ≈ 13.9 km), each asked once.
	nearbyMaxRadiusM     = 50_000
	nearbyDefaultRadiusM = 5_000
	nearbyMaxLimit       = 100
	nearbyDefaultLimit   = 10
	// nearbyTimeout bounds the whole fan-out.
	nearbyTimeout = 3 * time.Second
	// nearbyMaxFixAge leaves out drivers whose last fix is older: an
	// online driver sends one every few seconds, so a driver silent this
	// long has closed his socket or lost his signal, and his zone, kept
	// active by the others, would show him there for as long as it lives.
	nearbyMaxFixAge = 5 * time.Minute
)

// nearbyDriver is one item of GET /v1/drivers/nearby: the driver record
// and its distance from the query point.
type nearbyDriver struct {
	wire.Driver
	DistanceM float64 `json:"distance_m"`
}

// nearbyQuery is the validated query of GET /v1/drivers/nearby.
type nearbyQuery struct {
	lat, lng  float64
	radiusM   int
	limit     int
	available bool
}

func parseNearby(r *http.Request) (nearbyQuery, error) {
	q := r.URL.Query()
	out := nearbyQuery{radiusM: nearbyDefaultRadiusM, limit: nearbyDefaultLimit}
	var fields []problem.FieldError
	coord := func(name string, bound float64) float64 {
		v, err := strconv.ParseFloat(q.Get(name), 64)
		if q.Get(name) == "" {
			fields = append(fields, problem.FieldError{Field: name, Message: "is required"})
		} else if err != nil || math.IsNaN(v) || v < -bound || v > bound {
			fields = append(fields, problem.FieldError{Field: name,
				Message: "must be a number from " + strconv.Itoa(int(-bound)) + " to " + strconv.Itoa(int(bound))})
		}
		return v
	}
	out.lat, out.lng = coord("lat", 90), coord("lng", 180)
	integer := func(name string, lo, hi int, into *int) {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				fields = append(fields, problem.FieldError{Field: name,
					Message: "must be an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)})
				return
			}
			*into = n
		}
	}
	integer("radius_m", 1, nearbyMaxRadiusM, &out.radiusM)
	integer("limit", 1, nearbyMaxLimit, &out.limit)
	switch q.Get("available") {
	case "", "false":
	case "true":
		out.available = true
	default:
		fields = append(fields, problem.FieldError{Field: "available", Message: "must be true or false"})
	}
	if len(fields) > 0 {
		return out, invalid(fields...)
	}
	return out, nil
}

// nearbyDrivers serves GET /v1/drivers/nearby: the drivers whose last
// fix is within radius_m of the point and at most nearbyMaxFixAge old,
// nearest first (ties by id). It
// asks every zone the circle reaches for its nearest `limit`, merges,
// and reads each winner's record. Positions come from the zone actors'
// memory, so a driver is found where his last accepted fix put him; his
// record's last_location shows that fix when it is newer than the one
// the location history has recorded.
func (s *Server) nearbyDrivers(w http.ResponseWriter, r *http.Request, c *call) error {
	q, err := parseNearby(r)
	if err != nil {
		return err
	}
	hits, err := s.nearbyHits(r.Context(), q)
	if err != nil {
		return unavailable(err)
	}
	items, err := s.nearbyRecords(r.Context(), hits, q.available)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// nearbyHits asks the zones the circle reaches (engine.Nearest).
func (s *Server) nearbyHits(ctx context.Context, q nearbyQuery) ([]*pb.ZoneHit, error) {
	ctx, cancel := context.WithTimeout(ctx, nearbyTimeout)
	defer cancel()
	return engine.Nearest(ctx, s.actors, &pb.ZoneNearest{
		Lat: q.lat, Lng: q.lng, RadiusM: float64(q.radiusM), Limit: int32(q.limit), AvailableOnly: q.available,
		MaxFixAgeMs: nearbyMaxFixAge.Milliseconds(),
	})
}

// nearbyRecords reads the hits' driver records and presence. A hit with
// no record (not a driver) is left out; so, when availableOnly, is one
// the record says is unavailable (the zone learns of a change a Tell
// later than the store).
func (s *Server) nearbyRecords(ctx context.Context, hits []*pb.ZoneHit, availableOnly bool) ([]nearbyDriver, error) {
	recs := make([]*persistence.Driver, len(hits))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(presenceConcurrency)
	for i, h := range hits {
		g.Go(func() error {
			d, err := s.store.GetDriver(gctx, h.DriverId)
			if errors.Is(err, persistence.ErrNotFound) {
				return nil
			}
			if err != nil {
				return unavailable(err)
			}
			recs[i] = &d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var ids []string
	for _, d := range recs {
		if d != nil {
			ids = append(ids, d.ID)
		}
	}
	online, err := s.presence(ctx, ids)
	if err != nil {
		return nil, err
	}
	items := make([]nearbyDriver, 0, len(hits))
	for i, h := range hits {
		d := recs[i]
		if d == nil || (availableOnly && !d.Available) {
			continue
		}
		v := driverView(*d)
		v.Online = online[d.ID]
		at := time.UnixMilli(h.FixTsMs)
		if d.LastLocation == nil || at.After(d.LastLocation.At) {
			v.LastLocation = &wire.LastLocation{Lat: h.Lat, Lng: h.Lng, At: wire.Timestamp(at)}
		}
		items = append(items, nearbyDriver{Driver: v, DistanceM: h.DistanceM})
	}
	return items, nil
}

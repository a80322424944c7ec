package geo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// impls are the configurations of Index every test runs against: the
// default, one lock, and cells small and large against the tests'
// distances.
var impls = []struct {
	name string
	new  func() *Index
}{
	{"grid", func() *Index { return New(Options{}) }},
	{"grid-1shard", func() *Index { return New(Options{Shards: 1}) }},
	{"grid-50m", func() *Index { return New(Options{CellM: 50, Shards: 3}) }},
	{"grid-20km", func() *Index { return New(Options{CellM: 20000}) }},
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// bruteForce is the answer to q from a scan of every driver: the
// reference the index is checked against.
func bruteForce(drivers map[string]Driver, q Query) []Hit {
	qlng, _ := normLng(q.Lng)
	var hits []Hit
	for _, d := range drivers {
		lng, _ := normLng(d.Lng)
		dist := DistanceM(q.Lat, qlng, d.Lat, lng)
		switch {
		case dist > q.RadiusM,
			q.AvailableOnly && (!d.Available || d.Spare <= 0),
			q.MaxFixAge > 0 && q.Now.Sub(d.FixAt) > q.MaxFixAge,
			q.Exclude != nil && q.Exclude(d.ID):
			continue
		}
		hits = append(hits, Hit{ID: d.ID, Lat: d.Lat, Lng: lng, DistanceM: dist, FixAt: d.FixAt, Available: d.Available, Spare: d.Spare})
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if c := cmpFloat(a.DistanceM, b.DistanceM); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return hits[:min(len(hits), q.Limit)]
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// region is where random drivers and queries are placed.
type region struct {
	name                 string
	latMin, latMax       float64
	lngMin, lngMax       float64 // lngMax may pass 180: it wraps
	radiusMin, radiusMax float64 // of queries, metres
	drivers              int
}

var regions = []region{
	{"city", 52.34, 52.70, 13.10, 13.70, 100, 20000, 2000},
	{"antimeridian", -17, -16, 179.2, 180.8, 100, 60000, 1000},
	{"north-pole", 89.5, 90, -180, 180, 100, 80000, 800},
	{"south-pole", -90, -89.7, -180, 180, 100, 80000, 800},
	{"globe", -90, 90, -180, 180, 1e5, 2.1e7, 1500},
}

func (r region) point(rng *rand.Rand) (lat, lng float64) {
	lat = r.latMin + rng.Float64()*(r.latMax-r.latMin)
	lng = r.lngMin + rng.Float64()*(r.lngMax-r.lngMin)
	if rng.IntN(50) == 0 { // some drivers share a point: ties by ID
		lat, lng = math.Round(lat*10)/10, math.Round(lng*10)/10
	}
	return lat, lng
}

func randomDriver(rng *rand.Rand, r region, id string) Driver {
	lat, lng := r.point(rng)
	return Driver{ID: id, Lat: lat, Lng: lng, FixAt: t0.Add(-time.Duration(rng.IntN(600)) * time.Second),
		Available: rng.IntN(3) > 0, Spare: rng.IntN(3)}
}

func randomQuery(rng *rand.Rand, r region, drivers map[string]Driver) Query {
	lat, lng := r.point(rng)
	q := Query{Lat: lat, Lng: lng, Limit: 1 + rng.IntN(30),
		RadiusM: r.radiusMin * math.Pow(r.radiusMax/r.radiusMin, rng.Float64())}
	if rng.IntN(2) == 0 {
		q.AvailableOnly = true
	}
	if rng.IntN(3) == 0 {
		q.Now, q.MaxFixAge = t0, time.Duration(rng.IntN(600))*time.Second
	}
	if rng.IntN(3) == 0 {
		ex := map[string]bool{}
		for id := range drivers {
			if rng.IntN(4) == 0 {
				ex[id] = true
			}
		}
		q.Exclude = func(id string) bool { return ex[id] }
	}
	if rng.IntN(10) == 0 {
		q.Limit = len(drivers) + 1
	}
	return q
}

// TestNearestMatchesBruteForce runs random updates and queries in every
// region and checks each answer against a scan of every driver.
func TestNearestMatchesBruteForce(t *testing.T) {
	t.Parallel()
	for _, impl := range impls {
		for _, reg := range regions {
			t.Run(impl.name+"/"+reg.name, func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(1, uint64(len(reg.name)*31+len(impl.name))))
				ix := impl.new()
				model := map[string]Driver{}
				for i := range reg.drivers {
					d := randomDriver(rng, reg, fmt.Sprintf("d%04d", i))
					require.NoError(t, ix.Upsert(d))
					model[d.ID] = d
				}
				for round := range 300 {
					// Churn: moves, state changes, removals, returns.
					for range 20 {
						id := fmt.Sprintf("d%04d", rng.IntN(reg.drivers))
						d, ok := model[id]
						switch op := rng.IntN(10); {
						case !ok:
							d = randomDriver(rng, reg, id)
							require.NoError(t, ix.Upsert(d))
						case op < 6:
							d.Lat, d.Lng = reg.point(rng)
							d.FixAt = d.FixAt.Add(time.Second)
							moved, err := ix.Move(id, d.Lat, d.Lng, d.FixAt)
							require.NoError(t, err)
							require.True(t, moved)
						case op < 8:
							d.Available, d.Spare = rng.IntN(2) == 0, rng.IntN(3)
							require.True(t, ix.SetState(id, d.Available, d.Spare))
						default:
							require.True(t, ix.Remove(id))
							delete(model, id)
							continue
						}
						model[id] = d
					}
					require.Equal(t, len(model), ix.Len())
					q := randomQuery(rng, reg, model)
					got, err := ix.Nearest(q)
					require.NoError(t, err)
					want := bruteForce(model, q)
					require.Equal(t, nonNil(want), nonNil(got), "round %d, query %+v", round, q)
				}
			})
		}
	}
}

func nonNil(h []Hit) []Hit {
	if h == nil {
		return []Hit{}
	}
	return h
}

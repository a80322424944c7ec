package geo

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConcurrentMovesAndQueries has writers move, re-state, remove and
// re-add drivers while readers query. Every answer must be well formed
// (ordered, within the radius, distances true to the positions reported,
// no driver twice), and once the writers stop the index must agree with
// a scan of what they wrote. Run it with -race.
func TestConcurrentMovesAndQueries(t *testing.T) {
	t.Parallel()
	const writers, readers, perWriter, steps = 3, 3, 200, 600
	reg := regions[0]
	reg.radiusMax = 5000
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			ix := impl.new()
			models := make([]map[string]Driver, writers) // writer w owns models[w]
			var wg sync.WaitGroup
			for w := range writers {
				models[w] = map[string]Driver{}
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for i := range perWriter {
					d := randomDriver(rng, reg, fmt.Sprintf("w%d-%03d", w, i))
					require.NoError(t, ix.Upsert(d))
					models[w][d.ID] = d
				}
			}
			done := make(chan struct{})
			for w := range writers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 8))
					m := models[w]
					for range steps {
						id := fmt.Sprintf("w%d-%03d", w, rng.IntN(perWriter))
						d, ok := m[id]
						switch op := rng.IntN(10); {
						case !ok:
							d = randomDriver(rng, reg, id)
							if ix.Upsert(d) != nil {
								panic("upsert")
							}
						case op < 7:
							d.Lat, d.Lng = reg.point(rng)
							d.FixAt = d.FixAt.Add(time.Second)
							if _, err := ix.Move(id, d.Lat, d.Lng, d.FixAt); err != nil {
								panic(err)
							}
						case op < 9:
							d.Available, d.Spare = rng.IntN(2) == 0, rng.IntN(3)
							ix.SetState(id, d.Available, d.Spare)
						default:
							ix.Remove(id)
							delete(m, id)
							continue
						}
						m[id] = d
					}
				})
			}
			errs := make(chan error, readers)
			var rwg sync.WaitGroup
			for r := range readers {
				rwg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(r), 9))
					for {
						select {
						case <-done:
							return
						default:
						}
						q := randomQuery(rng, reg, nil)
						hits, err := ix.Nearest(q)
						if err == nil {
							err = wellFormed(q, hits)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(done)
			rwg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			all := map[string]Driver{}
			for _, m := range models {
				for id, d := range m {
					all[id] = d
				}
			}
			require.Equal(t, len(all), ix.Len())
			rng := rand.New(rand.NewPCG(1, 10))
			for range 50 {
				q := randomQuery(rng, reg, all)
				got, err := ix.Nearest(q)
				require.NoError(t, err)
				require.Equal(t, nonNil(bruteForce(all, q)), nonNil(got))
			}
		})
	}
}

// wellFormed checks what can be checked of an answer given while the
// index changes.
func wellFormed(q Query, hits []Hit) error {
	if len(hits) > q.Limit {
		return fmt.Errorf("%d hits, limit %d", len(hits), q.Limit)
	}
	seen := map[string]bool{}
	for i, h := range hits {
		switch {
		case seen[h.ID]:
			return fmt.Errorf("%s twice", h.ID)
		case h.DistanceM > q.RadiusM:
			return fmt.Errorf("%s at %v m, radius %v", h.ID, h.DistanceM, q.RadiusM)
		case h.DistanceM != DistanceM(q.Lat, q.Lng, h.Lat, h.Lng):
			return fmt.Errorf("%s: distance %v does not match its position", h.ID, h.DistanceM)
		case q.AvailableOnly && (!h.Available || h.Spare <= 0):
			return fmt.Errorf("%s not available", h.ID)
		case i > 0 && hitCmp(&hits[i-1], &h) >= 0:
			return fmt.Errorf("out of order at %d: %v", i, ids(hits))
		}
		seen[h.ID] = true
	}
	return nil
}

// TestInvalid checks that what cannot be placed or asked is refused.
func TestInvalid(t *testing.T) {
	t.Parallel()
	nan, inf := math.NaN(), math.Inf(1)
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			ix := impl.new()
			for _, d := range []Driver{{ID: "", Lat: 1}, {ID: "a", Lat: 91}, {ID: "a", Lat: -90.5}, {ID: "a", Lat: nan}, {ID: "a", Lng: inf}} {
				require.ErrorIs(t, ix.Upsert(d), ErrInvalid, "%+v", d)
				_, err := ix.Move(d.ID, d.Lat, d.Lng, t0)
				require.ErrorIs(t, err, ErrInvalid, "%+v", d)
			}
			require.Zero(t, ix.Len())
			for _, q := range []Query{
				{Lat: 91, RadiusM: 1, Limit: 1}, {Lng: nan, RadiusM: 1, Limit: 1},
				{RadiusM: 0, Limit: 1}, {RadiusM: nan, Limit: 1}, {RadiusM: 1, Limit: 0},
				{RadiusM: 1, Limit: 1, MaxFixAge: time.Second},
			} {
				_, err := ix.Nearest(q)
				require.True(t, errors.Is(err, ErrInvalid), "%+v: %v", q, err)
			}
			// Longitudes wrap; latitudes ±90 are valid.
			require.NoError(t, ix.Upsert(Driver{ID: "a", Lat: 90, Lng: 540}))
			require.NoError(t, ix.Upsert(Driver{ID: "b", Lat: -90, Lng: -180}))
			hits, err := ix.Nearest(Query{Lat: 90, Lng: 0, RadiusM: 1, Limit: 1})
			require.NoError(t, err)
			require.Equal(t, []string{"a"}, ids(hits))
			require.Equal(t, -180.0, hits[0].Lng)
		})
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	ix := New(Options{})
	_, ok := ix.Get("a")
	require.False(t, ok)
	d := Driver{ID: "a", Lat: 10, Lng: 190, FixAt: t0, Available: true, Spare: 2}
	require.NoError(t, ix.Upsert(d))
	got, ok := ix.Get("a")
	require.True(t, ok)
	d.Lng = -170
	require.Equal(t, d, got)
}

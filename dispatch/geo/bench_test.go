package geo

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The benchmark city: 50,000 drivers in a 40 km × 40 km box around
// Berlin (≈31 drivers/km²), two in three of them available with spare
// capacity; queries ask for the nearest 10 available drivers with a
// fresh fix within 3 km of a random point of the box.
const (
	benchDrivers = 50000
	benchLat     = 52.52
	benchLng     = 13.40
	benchHalfLat = 20000 / metresPerDegree          // 20 km
	benchHalfLng = 20000 / metresPerDegree / 0.6087 // 20 km at 52.52°
)

// benchImpls are the configurations measured: the default (500 m
// cells, 16 lock shards), one RWMutex, and 250 m cells.
var benchImpls = []struct {
	name string
	new  func() *Index
}{
	{"grid", func() *Index { return New(Options{}) }},
	{"grid-1shard", func() *Index { return New(Options{Shards: 1}) }},
	{"grid-250m", func() *Index { return New(Options{CellM: 250}) }},
}

func benchCity(b *testing.B, ix *Index) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range benchDrivers {
		lat, lng := benchPoint(rng)
		d := Driver{ID: fmt.Sprintf("driver-%05d", i), Lat: lat, Lng: lng, FixAt: t0,
			Available: rng.IntN(3) > 0, Spare: 1 + rng.IntN(3)}
		if err := ix.Upsert(d); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPoint(rng *rand.Rand) (lat, lng float64) {
	return benchLat + (rng.Float64()*2-1)*benchHalfLat, benchLng + (rng.Float64()*2-1)*benchHalfLng
}

var benchSeed atomic.Uint64

// cpuTime is the CPU time the process has used, all threads: on a
// machine shared with other work, cpu-ns/op says what an operation
// costs where ns/op says how long it waited too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runQueries runs the benchmark's queries on every P and reports
// queries/s and the CPU time per query (of the whole process: in
// BenchmarkNearestWhileUpdating it includes the mover's).
func runQueries(b *testing.B, ix *Index) {
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(benchSeed.Add(1), 2))
		for pb.Next() {
			lat, lng := benchPoint(rng)
			hits, err := ix.Nearest(Query{Lat: lat, Lng: lng, RadiusM: 3000, Limit: 10,
				AvailableOnly: true, MaxFixAge: time.Hour, Now: t0})
			if err != nil || len(hits) != 10 {
				b.Errorf("%d hits, %v", len(hits), err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkNearest: nearest 10 available drivers within 3 km among
// 50,000, queried from every P.
func BenchmarkNearest(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run(impl.name, func(b *testing.B) {
			ix := impl.new()
			benchCity(b, ix)
			runQueries(b, ix)
		})
	}
}

// BenchmarkNearestWhileUpdating is BenchmarkNearest while a goroutine
// moves every driver once a second (50,000 fixes/s, paced evenly in
// batches every millisecond, each a step of up to ~15 m). It reports the
// updates/s the mover achieved beside the queries/s.
func BenchmarkNearestWhileUpdating(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run(impl.name, func(b *testing.B) {
			ix := impl.new()
			benchCity(b, ix)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var moved atomic.Int64
			start := time.Now()
			wg.Go(func() { moveAll(ix, stop, &moved) })
			runQueries(b, ix)
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(moved.Load())/time.Since(start).Seconds(), "updates/s")
		})
	}
}

// moveAll moves the drivers in turn at benchDrivers fixes a second until
// stop closes.
func moveAll(ix *Index, stop <-chan struct{}, moved *atomic.Int64) {
	rng := rand.New(rand.NewPCG(3, 3))
	lat, lng := make([]float64, benchDrivers), make([]float64, benchDrivers)
	ids := make([]string, benchDrivers)
	prng := rand.New(rand.NewPCG(1, 1)) // benchCity's positions
	for i := range benchDrivers {
		ids[i] = fmt.Sprintf("driver-%05d", i)
		lat[i], lng[i] = benchPoint(prng)
		prng.IntN(3)
		prng.IntN(3)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	next, n := 0, int64(0)
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			due := int64(now.Sub(start).Seconds() * benchDrivers)
			for ; n < due; n++ {
				i := next
				next = (next + 1) % benchDrivers
				lat[i] += (rng.Float64()*2 - 1) * 1e-4
				lng[i] += (rng.Float64()*2 - 1) * 1.6e-4
				if _, err := ix.Move(ids[i], lat[i], lng[i], t0.Add(time.Duration(n))); err != nil {
					panic(err)
				}
			}
			moved.Store(n)
		}
	}
}

// BenchmarkUpsert is the cost of one update: a driver's fix moving it a
// step of up to ~15 m (most stay in their cell), from one goroutine.
func BenchmarkUpsert(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run(impl.name, func(b *testing.B) {
			ix := impl.new()
			benchCity(b, ix)
			rng := rand.New(rand.NewPCG(1, 1)) // benchCity's positions
			ids := make([]string, benchDrivers)
			lat, lng := make([]float64, benchDrivers), make([]float64, benchDrivers)
			for i := range ids {
				ids[i] = fmt.Sprintf("driver-%05d", i)
				lat[i], lng[i] = benchPoint(rng)
				rng.IntN(3)
				rng.IntN(3)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				j := i % benchDrivers
				lat[j] += (rng.Float64()*2 - 1) * 1e-4
				lng[j] += (rng.Float64()*2 - 1) * 1.6e-4
				_ = ix.Upsert(Driver{ID: ids[j], Lat: lat[j], Lng: lng[j], FixAt: t0.Add(time.Duration(i)), Available: true, Spare: 1})
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

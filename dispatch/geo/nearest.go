package geo

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Query asks Nearest for drivers around a point.
type Query struct {
	Lat, Lng float64 // degrees
	RadiusM  float64 // great-circle radius in metres, > 0; a driver at exactly RadiusM is within
	Limit    int     // at most this many hits, > 0
	// MaxFixAge, if positive, drops drivers whose fix is older than Now
	// minus MaxFixAge; Now must then be set (the index reads no clock).
	MaxFixAge time.Duration
	Now       time.Time
	// AvailableOnly keeps only drivers that are available and have
	// spare capacity.
	AvailableOnly bool
	// Exclude, if set, drops the drivers for which it returns true (the
	// drivers cooled off for an order). It is called with a read lock of
	// the index held and must not call into the index.
	Exclude func(id string) bool
}

// Hit is a driver found by Nearest.
type Hit struct {
	ID        string
	Lat, Lng  float64
	DistanceM float64 // great-circle distance from the query point (DistanceM)
	FixAt     time.Time
	Available bool
	Spare     int
}

// Nearest returns the drivers within q.RadiusM of the query point that
// pass its filters, nearest first, ties by ID, at most q.Limit of them:
// the first q.Limit of a scan of every driver sorted the same way, if
// the index does not change meanwhile (see Index for what a concurrent
// query sees). A fix exactly MaxFixAge old is fresh. Nearest returns
// ErrInvalid for an invalid point, radius or limit, or a MaxFixAge
// without Now.
//
// The search visits the cells around the point in widening circles,
// growing the radius by a cell and then by half, and stops once it holds
// q.Limit hits none farther than the circle searched, or has searched
// q.RadiusM. When a circle would visit more cells than the index holds
// drivers, it scans every driver instead, so a wide search of a sparse
// index costs at most one pass over it. q.Exclude is called while a
// read lock of the index is held.
func (ix *Index) Nearest(q Query) ([]Hit, error) {
	lng, ok := normLng(q.Lng)
	if !validLat(q.Lat) || !ok || !(q.RadiusM > 0) || q.Limit <= 0 || (q.MaxFixAge > 0 && q.Now.IsZero()) {
		return nil, fmt.Errorf("nearest to (%v, %v) within %v m, limit %d: %w", q.Lat, q.Lng, q.RadiusM, q.Limit, ErrInvalid)
	}
	s := searchPool.Get().(*search)
	defer s.release()
	s.ix, s.q, s.cosLat = ix, q, math.Cos(q.Lat*rad)
	s.q.Lng = lng
	if q.MaxFixAge > 0 {
		s.cutoff, s.stale = q.Now.Add(-q.MaxFixAge), true
	}
	s.top.reset(q.Limit)
	s.setBound(q.RadiusM)
	s.held = -1
	removals := ix.removals.Load()
	s.run()
	s.unlock()
	hits := slices.Clone(s.top.hits)
	if ix.removals.Load() != removals {
		hits = dedupe(hits)
	}
	return hits, nil
}

// search is the state of one Nearest call, pooled to spare the
// allocations.
type search struct {
	ix     *Index
	q      Query
	cosLat float64
	cutoff time.Time
	stale  bool
	top    topK
	// boundDeg, boundLng and boundA reject, cheaply, drivers farther
	// than the k-th hit or the radius (setBound).
	boundDeg, boundLng, boundA float64
	// rows visited so far: rows [r0, r0+len(spans)), each with the
	// columns visited (lo > hi: none).
	r0    int
	spans []span
	held  int // the shard whose read lock the search holds, or -1
}

var searchPool = sync.Pool{New: func() any { return new(search) }}

// release returns s to the pool, keeping its arrays.
func (s *search) release() {
	s.top.reset(0)
	*s = search{top: s.top, spans: s.spans[:0]}
	searchPool.Put(s)
}

// run visits the cells within a radius r, widening r from a cell to the
// query's radius, until no cell left can hold a better hit.
func (s *search) run() {
	g, cellM := s.ix.grid, s.ix.cellM
	s.spans = s.spans[:0]
	for r := min(cellM, s.q.RadiusM); ; r = min(s.q.RadiusM, max(r+cellM, r*1.5)) {
		// A hair wider than r, so that rounding in the box cannot hide a
		// driver at distance r.
		latMin, latMax, dLng, allLng := capBounds(s.q.Lat, r*(1+1e-9)+1e-3)
		rLo, rHi := g.row(latMin), g.row(latMax)
		if s.cost(rLo, rHi, dLng, allLng) > s.ix.Len() {
			s.scanAll()
			return
		}
		s.grow(rLo, rHi)
		for row := rLo; row <= rHi; row++ {
			n := int(g.cols[row])
			s.visitRow(row, n, &s.spans[row-s.r0], rowSpan(n, s.q.Lng, dLng, allLng))
		}
		if r >= s.q.RadiusM || (s.top.full() && s.top.worst() <= r) {
			return
		}
	}
}

// cost is how many cells not yet visited the rows rLo..rHi hold within
// the longitudes lng±dLng.
func (s *search) cost(rLo, rHi int, dLng float64, allLng bool) int {
	total := 0
	for row := rLo; row <= rHi; row++ {
		n := int(s.ix.grid.cols[row])
		want := rowSpan(n, s.q.Lng, dLng, allLng)
		total += want.hi - want.lo + 1
		if i := row - s.r0; i >= 0 && i < len(s.spans) {
			total -= s.spans[i].hi - s.spans[i].lo + 1 // 0 for none
		}
	}
	return total
}

// visitRow visits the cells of row r (n columns) that want covers and
// had, the columns visited so far, does not; had becomes their union.
// Spans of one search share the query's longitude, so they only widen:
// want holds had unless want is the whole row, which had then wraps into.
func (s *search) visitRow(r, n int, had *span, want span) {
	switch {
	case had.lo > had.hi: // nothing visited yet
		s.visitCols(r, n, want.lo, want.hi)
		*had = want
	case had.hi-had.lo+1 >= n: // all visited
	case want.hi-want.lo+1 >= n:
		s.visitCols(r, n, had.hi+1, had.lo+n-1)
		*had = span{had.lo, had.lo + n - 1}
	default:
		s.visitCols(r, n, want.lo, had.lo-1)
		s.visitCols(r, n, had.hi+1, want.hi)
		*had = want
	}
}

// grow makes spans cover rows rLo..rHi, new rows with nothing visited.
func (s *search) grow(rLo, rHi int) {
	if len(s.spans) == 0 {
		s.r0 = rLo
	}
	if rLo < s.r0 {
		add := s.r0 - rLo
		s.spans = slices.Insert(s.spans, 0, make([]span, add)...)
		for i := range add {
			s.spans[i] = span{0, -1}
		}
		s.r0 = rLo
	}
	for s.r0+len(s.spans) <= rHi {
		s.spans = append(s.spans, span{0, -1})
	}
}

// visitCols scans the cells of row r (n columns) from unwrapped column
// lo to hi.
func (s *search) visitCols(r, n, lo, hi int) {
	for c := lo; c <= hi; c++ {
		k := key(r, wrap(c, n))
		s.lock(s.ix.shardOf(k))
		if cl := s.ix.shards[s.held].cells[k]; cl != nil {
			s.scan(cl.entries)
		}
	}
}

// lock read-locks shard i, and keeps it locked until the search needs
// another shard or ends (unlock): the search holds one read lock at a
// time, and with one shard it takes it once.
func (s *search) lock(i int) {
	if s.held == i {
		return
	}
	s.unlock()
	s.ix.shards[i].mu.RLock()
	s.held = i
}

func (s *search) unlock() {
	if s.held >= 0 {
		s.ix.shards[s.held].mu.RUnlock()
		s.held = -1
	}
}

// scanAll offers every driver of the index to the search.
func (s *search) scanAll() {
	for i := range s.ix.shards {
		s.lock(i)
		for _, cl := range s.ix.shards[i].cells {
			s.scan(cl.entries)
		}
	}
}

// scan offers a cell's entries to the search; the cell's lock is held.
func (s *search) scan(es []entry) {
	q := &s.q
	for i := range es {
		e := &es[i]
		if q.AvailableOnly && (!e.available || e.spare <= 0) {
			continue
		}
		if s.stale && e.fixAt.Before(s.cutoff) {
			continue
		}
		// Cheap rejections first: the latitudes alone, the longitudes
		// alone, then the haversine's a (monotonic in the distance),
		// each against the bound with a margin, so that rounding cannot
		// turn a hit away.
		if math.Abs(e.lat-q.Lat) > s.boundDeg {
			continue
		}
		if dLng := math.Abs(e.lng - q.Lng); dLng > s.boundLng && 360-dLng > s.boundLng {
			continue
		}
		sLat := math.Sin((e.lat - q.Lat) * rad / 2)
		sLng := math.Sin((e.lng - q.Lng) * rad / 2)
		a := sLat*sLat + s.cosLat*e.cosLat*sLng*sLng
		if a > s.boundA {
			continue
		}
		d := 2 * EarthRadiusM * math.Asin(math.Min(1, math.Sqrt(a)))
		if d > q.RadiusM || (s.top.full() && d > s.top.worst()) {
			continue
		}
		if q.Exclude != nil && q.Exclude(e.id) {
			continue
		}
		s.top.offer(Hit{ID: e.id, Lat: e.lat, Lng: e.lng, DistanceM: d, FixAt: e.fixAt, Available: e.available, Spare: e.spare}, e.slot)
		if s.top.full() {
			s.setBound(s.top.worst())
		}
	}
}

// setBound sets the cheap rejection tests of scan for hits no farther
// than m metres, with a margin.
func (s *search) setBound(m float64) {
	m = m*(1+1e-9) + 1e-3
	s.boundDeg = m / metresPerDegree
	_, _, s.boundLng, _ = capBounds(s.q.Lat, m) // 180 when the cap spans every longitude
	h := math.Sin(math.Min(m/EarthRadiusM, math.Pi) / 2)
	s.boundA = h * h * (1 + 1e-9)
}

// topK keeps the k best hits offered, sorted by distance then ID. who
// is the slot of each hit's driver: a driver that moves between two
// cells while a search runs can be offered twice, from both, and is kept
// once. (A driver removed and added again while the search runs has a
// new slot; Nearest drops such a duplicate at the end if a driver was
// removed while it ran.)
type topK struct {
	k    int
	hits []Hit
	who  []*slot
}

func (t *topK) full() bool     { return len(t.hits) >= t.k }
func (t *topK) worst() float64 { return t.hits[len(t.hits)-1].DistanceM }

func hitCmp(a, b *Hit) int {
	if a.DistanceM != b.DistanceM {
		if a.DistanceM < b.DistanceM {
			return -1
		}
		return 1
	}
	return strings.Compare(a.ID, b.ID)
}

func (t *topK) reset(k int) {
	clear(t.hits)
	clear(t.who)
	t.k, t.hits, t.who = k, t.hits[:0], t.who[:0]
}

func (t *topK) offer(h Hit, who *slot) {
	n := len(t.hits)
	if n >= t.k && hitCmp(&h, &t.hits[n-1]) >= 0 {
		return
	}
	if slices.Contains(t.who, who) {
		return
	}
	if n < t.k {
		t.hits, t.who = append(t.hits, Hit{}), append(t.who, nil)
	} else {
		n-- // the worst goes
	}
	i := n
	for ; i > 0 && hitCmp(&h, &t.hits[i-1]) < 0; i-- {
		t.hits[i], t.who[i] = t.hits[i-1], t.who[i-1]
	}
	t.hits[i], t.who[i] = h, who
}

// dedupe drops the hits whose ID an earlier hit has.
func dedupe(hits []Hit) []Hit {
	if len(hits) <= 64 {
		for i := 1; i < len(hits); i++ {
			for j := range i {
				if hits[j].ID == hits[i].ID {
					hits = slices.Delete(hits, i, i+1)
					i--
					break
				}
			}
		}
		return hits
	}
	seen := make(map[string]bool, len(hits))
	return slices.DeleteFunc(hits, func(h Hit) bool {
		dup := seen[h.ID]
		seen[h.ID] = true
		return dup
	})
}

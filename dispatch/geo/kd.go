package geo

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// kdIndex is the alternative measured against Index: a 3-d tree over
// drivers' unit vectors (no antimeridian, no poles), nearest neighbours
// by chord length, which orders points as the great-circle distance
// does. A move kills the driver's node and inserts a new one; the tree is
// rebuilt balanced when the dead outnumber the living. One RWMutex.
type kdIndex struct {
	mu    sync.RWMutex
	nodes []kdNode
	root  int32
	recs  map[string]*kdRec
	dead  int
}

type kdNode struct {
	p           [3]float64
	left, right int32
	axis        uint8
	rec         *kdRec // nil: dead
}

type kdRec struct {
	entry
	node int32
}

func newKD() *kdIndex { return &kdIndex{root: -1, recs: map[string]*kdRec{}} }

func unit(lat, lng float64) [3]float64 {
	cl := math.Cos(lat * rad)
	return [3]float64{cl * math.Cos(lng*rad), cl * math.Sin(lng*rad), math.Sin(lat * rad)}
}

func (t *kdIndex) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.recs)
}

func (t *kdIndex) Upsert(d Driver) error {
	lng, ok := normLng(d.Lng)
	if d.ID == "" || !validLat(d.Lat) || !ok {
		return fmt.Errorf("upsert driver %q: %w", d.ID, ErrInvalid)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	rec := t.recs[d.ID]
	if rec == nil {
		rec = &kdRec{node: -1}
		t.recs[d.ID] = rec
	}
	rec.entry = entry{lat: d.Lat, lng: lng, cosLat: math.Cos(d.Lat * rad), id: d.ID, fixAt: d.FixAt, spare: d.Spare, available: d.Available}
	t.place(rec)
	return nil
}

func (t *kdIndex) Move(id string, lat, lng float64, at time.Time) (bool, error) {
	lng, ok := normLng(lng)
	if id == "" || !validLat(lat) || !ok {
		return false, fmt.Errorf("move driver %q: %w", id, ErrInvalid)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	rec := t.recs[id]
	if rec == nil {
		rec = &kdRec{node: -1, entry: entry{id: id}}
		t.recs[id] = rec
	} else if at.Before(rec.fixAt) {
		return false, nil
	}
	rec.lat, rec.lng, rec.cosLat, rec.fixAt = lat, lng, math.Cos(lat*rad), at
	t.place(rec)
	return true, nil
}

func (t *kdIndex) SetState(id string, available bool, spare int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	rec := t.recs[id]
	if rec == nil {
		return false
	}
	rec.available, rec.spare = available, spare
	return true
}

func (t *kdIndex) Remove(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	rec := t.recs[id]
	if rec == nil {
		return false
	}
	t.kill(rec)
	delete(t.recs, id)
	return true
}

func (t *kdIndex) kill(rec *kdRec) {
	if rec.node >= 0 {
		t.nodes[rec.node].rec = nil
		rec.node = -1
		t.dead++
	}
}

// place files rec at its position: a new node, the old one dead.
func (t *kdIndex) place(rec *kdRec) {
	t.kill(rec)
	if t.dead > 1024 && t.dead > len(t.recs) {
		t.rebuild()
	}
	p := unit(rec.lat, rec.lng)
	i := int32(len(t.nodes))
	t.nodes = append(t.nodes, kdNode{p: p, left: -1, right: -1, rec: rec})
	rec.node = i
	if t.root < 0 {
		t.root = i
		return
	}
	for j := t.root; ; {
		n := &t.nodes[j]
		next := &n.right
		if p[n.axis] < n.p[n.axis] {
			next = &n.left
		}
		if *next < 0 {
			*next = i
			t.nodes[i].axis = (n.axis + 1) % 3
			return
		}
		j = *next
	}
}

// rebuild builds a balanced tree of the living (and rec being placed,
// whose node is -1, is left out and placed by the caller).
func (t *kdIndex) rebuild() {
	type item struct {
		p   [3]float64
		rec *kdRec
	}
	items := make([]item, 0, len(t.recs))
	for _, r := range t.recs {
		if r.node >= 0 {
			items = append(items, item{t.nodes[r.node].p, r})
		}
	}
	t.nodes, t.dead, t.root = t.nodes[:0], 0, -1
	var build func(its []item, axis uint8) int32
	build = func(its []item, axis uint8) int32 {
		if len(its) == 0 {
			return -1
		}
		slices.SortFunc(its, func(a, b item) int {
			switch {
			case a.p[axis] < b.p[axis]:
				return -1
			case a.p[axis] > b.p[axis]:
				return 1
			}
			return 0
		})
		m := len(its) / 2
		for m > 0 && its[m-1].p[axis] == its[m].p[axis] { // equal keys go right
			m--
		}
		i := int32(len(t.nodes))
		t.nodes = append(t.nodes, kdNode{p: its[m].p, axis: axis, rec: its[m].rec})
		its[m].rec.node = i
		next := (axis + 1) % 3
		l := build(its[:m], next)
		r := build(its[m+1:], next)
		t.nodes[i].left, t.nodes[i].right = l, r
		return i
	}
	t.root = build(items, 0)
}

type kdSearch struct {
	t      *kdIndex
	q      Query
	p      [3]float64
	cosLat float64
	cutoff time.Time
	stale  bool
	top    topK
	bound2 float64 // squared chord no hit can be beyond
}

func chord(m float64) float64 {
	return 2*math.Sin(math.Min(m/EarthRadiusM, math.Pi)/2)*(1+1e-9) + 1e-12
}

func (t *kdIndex) Nearest(q Query) ([]Hit, error) {
	lng, ok := normLng(q.Lng)
	if !validLat(q.Lat) || !ok || !(q.RadiusM > 0) || q.Limit <= 0 || (q.MaxFixAge > 0 && q.Now.IsZero()) {
		return nil, fmt.Errorf("nearest: %w", ErrInvalid)
	}
	q.Lng = lng
	s := kdSearch{t: t, q: q, p: unit(q.Lat, lng), cosLat: math.Cos(q.Lat * rad), top: topK{k: q.Limit}}
	if q.MaxFixAge > 0 {
		s.cutoff, s.stale = q.Now.Add(-q.MaxFixAge), true
	}
	c := chord(q.RadiusM)
	s.bound2 = c * c
	t.mu.RLock()
	s.visit(t.root)
	t.mu.RUnlock()
	return s.top.hits, nil
}

func (s *kdSearch) visit(i int32) {
	if i < 0 {
		return
	}
	n := &s.t.nodes[i]
	if e := n.rec; e != nil {
		s.consider(n, &e.entry)
	}
	diff := s.p[n.axis] - n.p[n.axis]
	near, far := n.right, n.left
	if diff < 0 {
		near, far = n.left, n.right
	}
	s.visit(near)
	if diff*diff <= s.bound2 {
		s.visit(far)
	}
}

func (s *kdSearch) consider(n *kdNode, e *entry) {
	q := &s.q
	if q.AvailableOnly && (!e.available || e.spare <= 0) {
		return
	}
	if s.stale && e.fixAt.Before(s.cutoff) {
		return
	}
	dx, dy, dz := n.p[0]-s.p[0], n.p[1]-s.p[1], n.p[2]-s.p[2]
	if dx*dx+dy*dy+dz*dz > s.bound2 {
		return
	}
	d := haversine(q.Lat, q.Lng, s.cosLat, e.lat, e.lng, e.cosLat)
	if d > q.RadiusM || (s.top.full() && d > s.top.worst()) {
		return
	}
	if q.Exclude != nil && q.Exclude(e.id) {
		return
	}
	s.top.offer(Hit{ID: e.id, Lat: e.lat, Lng: e.lng, DistanceM: d, FixAt: e.fixAt, Available: e.available, Spare: e.spare}, nil)
	if s.top.full() {
		c := chord(s.top.worst())
		s.bound2 = c * c
	}
}

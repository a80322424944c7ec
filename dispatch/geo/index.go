// Package geo is the in-memory index of drivers' positions that dispatch
// ranks candidates from and GET /v1/drivers/nearby reads: which drivers
// are nearest a point, within a radius, available, with spare capacity
// and a fresh fix. It does no I/O and starts no goroutine; whoever feeds
// it (the location stream, availability changes) calls Upsert, Move,
// SetState and Remove, and readers call Nearest.
//
// Start at Index and Nearest. Drivers live in the cells of a grid of
// rows of equal latitude height whose columns narrow towards the poles
// (grid.go); Nearest searches outward from the query's cell in widening
// circles until it holds Limit hits that no unvisited cell can beat.
// ZoneOf and ZonesFor name the coarse cells (zones) a later change will
// partition the index across the cluster by.
//
// Distances are great-circle (haversine) on a sphere of EarthRadiusM.
// Longitudes wrap at the antimeridian; the rows at the poles are single
// cells.
package geo

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Driver is what the index holds of one driver.
type Driver struct {
	ID       string
	Lat, Lng float64   // degrees; Lng is kept wrapped into [-180, 180)
	FixAt    time.Time // when the position was measured
	// Available is whether the driver takes offers; Spare is how many
	// more orders they can carry.
	Available bool
	Spare     int
}

// Options configure an Index. The zero value is valid.
type Options struct {
	// CellM is the height of a grid cell in metres (default
	// DefaultCellM). Smaller cells scan fewer drivers per query in dense
	// areas and look up more empty cells in sparse ones.
	CellM float64
	// Shards is the number of locks the cells are spread over (default
	// DefaultShards; 1 is a single RWMutex). More shards let writers
	// move drivers while readers scan other cells.
	Shards int
}

const (
	// DefaultCellM was chosen by BenchmarkNearest (bench_test.go): at a
	// busy city's density (~30 drivers/km²) it puts ~8 drivers in a cell,
	// and a nearest-10 query visits about 9 cells; 250 m cells cost ~40%
	// more CPU per query there, 1 km cells ~50% more.
	DefaultCellM = 500.0
	// DefaultShards was chosen by BenchmarkNearestWhileUpdating: with one
	// lock, readers and the writer of 50,000 fixes/s hold each other up
	// (the writer fell behind its rate in some runs); 16 keep the writer
	// at its rate.
	DefaultShards = 16
)

// ErrInvalid is returned for a driver or query whose fields cannot be
// used: an empty ID, a latitude outside [-90, 90], a coordinate that is
// not finite, a non-positive radius or limit.
var ErrInvalid = errors.New("geo: invalid")

// Index is the geo index of drivers. It is safe for concurrent use.
//
// Locks (the order they are taken in): a directory shard's mu (the
// driver's ID picks it; it serialises the writers of one driver and
// guards where the driver is filed), then the cell shards' mu (a block
// of cells shares one, see shardOf; it guards those cells' entries), two
// of them in increasing shard order when a driver moves between cells.
// A query holds one cell shard's read lock at a time and no directory
// lock, so it is not a snapshot: a driver moving while Nearest runs may
// be seen at either position (never twice).
type Index struct {
	grid   *grid
	cellM  float64
	seed   maphash.Seed
	dir    []dirShard
	shards []cellShard
	n      atomic.Int64
	// removals counts Remove calls: a query that saw none during its
	// run cannot have met one driver under two slots (see topK).
	removals atomic.Uint64
}

type dirShard struct {
	mu sync.Mutex
	m  map[string]*slot
	_  [40]byte // keep shards' locks on separate cache lines
}

type cellShard struct {
	mu    sync.RWMutex
	cells map[cellKey]*cell
	empty int // cells with no entries
	_     [32]byte
}

// slot is where a driver is filed: its cell and its index in the cell's
// entries. key is guarded by the driver's directory shard and the cell's
// shard; idx by the cell's shard (another driver's removal moves it).
type slot struct {
	key cellKey
	idx int
}

// cell holds the entries of the drivers whose position is in it, with a
// copy of everything a query reads so that a scan touches one array.
type cell struct{ entries []entry }

type entry struct {
	lat, lng, cosLat float64
	id               string
	fixAt            time.Time
	spare            int
	available        bool
	slot             *slot
}

// New returns an empty index.
func New(opts Options) *Index {
	if opts.CellM <= 0 || math.IsNaN(opts.CellM) {
		opts.CellM = DefaultCellM
	}
	if opts.Shards <= 0 {
		opts.Shards = DefaultShards
	}
	ix := &Index{
		grid:   newGrid(opts.CellM / metresPerDegree),
		cellM:  opts.CellM,
		seed:   maphash.MakeSeed(),
		dir:    make([]dirShard, opts.Shards),
		shards: make([]cellShard, opts.Shards),
	}
	for i := range ix.dir {
		ix.dir[i].m = map[string]*slot{}
		ix.shards[i].cells = map[cellKey]*cell{}
	}
	return ix
}

// Len is the number of drivers in the index.
func (ix *Index) Len() int { return int(ix.n.Load()) }

func (ix *Index) dirOf(id string) *dirShard {
	return &ix.dir[maphash.String(ix.seed, id)%uint64(len(ix.dir))]
}

// shardOf is the shard of cell k: blocks of shardBlock×shardBlock cells
// share a shard, so that a query, which holds one shard's read lock at a
// time and keeps it while the cells it visits are in that shard, takes
// few locks; the blocks are spread over the shards by a hash.
func (ix *Index) shardOf(k cellKey) int {
	b := uint64(k)>>(32+shardBits)<<32 | uint64(uint32(k))>>shardBits
	return int((b * 0x9E3779B97F4A7C15 >> 32) % uint64(len(ix.shards)))
}

// shardBits is log2 of the side of a shard's blocks, in cells: 4×4
// cells of DefaultCellM are 2 km × 2 km, and a nearest-10 query in a city
// visits one to four blocks.
const shardBits = 2

// Upsert adds the driver or replaces everything the index holds of it.
func (ix *Index) Upsert(d Driver) error {
	lng, ok := normLng(d.Lng)
	if d.ID == "" || !validLat(d.Lat) || !ok {
		return fmt.Errorf("upsert driver %q at (%v, %v): %w", d.ID, d.Lat, d.Lng, ErrInvalid)
	}
	d.Lng = lng
	ix.put(&d, false)
	return nil
}

// Move records a position fix: the driver moves and keeps its state. A
// driver not in the index is added unavailable with no spare capacity
// (SetState makes it a candidate). A fix older than the one held is
// ignored and Move returns false.
func (ix *Index) Move(id string, lat, lng float64, at time.Time) (bool, error) {
	wrapped, ok := normLng(lng)
	if id == "" || !validLat(lat) || !ok {
		return false, fmt.Errorf("move driver %q to (%v, %v): %w", id, lat, lng, ErrInvalid)
	}
	return ix.put(&Driver{ID: id, Lat: lat, Lng: wrapped, FixAt: at}, true), nil
}

// put files d at its position: all of it, or if fix only its position
// and fix time, unless it holds a newer fix (then put returns false). It
// holds the driver's directory lock throughout.
func (ix *Index) put(d *Driver, fix bool) bool {
	ds := ix.dirOf(d.ID)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	to := ix.grid.cellOf(d.Lat, d.Lng)
	sl, found := ds.m[d.ID]
	if !found {
		sl = &slot{key: to}
		s := &ix.shards[ix.shardOf(to)]
		s.mu.Lock()
		s.add(to, entry{lat: d.Lat, lng: d.Lng, cosLat: math.Cos(d.Lat * rad), id: d.ID,
			fixAt: d.FixAt, spare: d.Spare, available: d.Available, slot: sl})
		s.mu.Unlock()
		ds.m[d.ID] = sl
		ix.n.Add(1)
		return true
	}
	from := sl.key
	a, b := ix.shardOf(from), ix.shardOf(to)
	lockPair(ix.shards, a, b)
	defer unlockPair(ix.shards, a, b)
	fs := &ix.shards[a]
	e := &fs.cells[from].entries[sl.idx]
	if fix && d.FixAt.Before(e.fixAt) {
		return false
	}
	e.lat, e.lng, e.cosLat, e.fixAt = d.Lat, d.Lng, math.Cos(d.Lat*rad), d.FixAt
	if !fix {
		e.available, e.spare = d.Available, d.Spare
	}
	if from != to {
		moved := *e
		fs.remove(from, sl.idx)
		sl.key = to
		ix.shards[b].add(to, moved)
	}
	return true
}

// SetState sets whether the driver takes offers and its spare capacity,
// and reports whether the driver is in the index (a driver is added by
// Upsert or Move, which know where it is).
func (ix *Index) SetState(id string, available bool, spare int) bool {
	ds := ix.dirOf(id)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	sl, ok := ds.m[id]
	if !ok {
		return false
	}
	s := &ix.shards[ix.shardOf(sl.key)]
	s.mu.Lock()
	e := &s.cells[sl.key].entries[sl.idx]
	e.available, e.spare = available, spare
	s.mu.Unlock()
	return true
}

// Remove drops the driver and reports whether it was in the index.
func (ix *Index) Remove(id string) bool {
	ds := ix.dirOf(id)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	sl, ok := ds.m[id]
	if !ok {
		return false
	}
	s := &ix.shards[ix.shardOf(sl.key)]
	s.mu.Lock()
	s.remove(sl.key, sl.idx)
	s.mu.Unlock()
	delete(ds.m, id)
	ix.n.Add(-1)
	ix.removals.Add(1)
	return true
}

// Get returns what the index holds of the driver.
func (ix *Index) Get(id string) (Driver, bool) {
	ds := ix.dirOf(id)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	sl, ok := ds.m[id]
	if !ok {
		return Driver{}, false
	}
	s := &ix.shards[ix.shardOf(sl.key)]
	s.mu.RLock()
	e := s.cells[sl.key].entries[sl.idx]
	s.mu.RUnlock()
	return Driver{ID: e.id, Lat: e.lat, Lng: e.lng, FixAt: e.fixAt, Available: e.available, Spare: e.spare}, true
}

// add files e in cell k; the shard's lock is held.
func (s *cellShard) add(k cellKey, e entry) {
	c := s.cells[k]
	if c == nil {
		c = &cell{}
		s.cells[k] = c
	} else if len(c.entries) == 0 {
		s.empty--
	}
	e.slot.idx = len(c.entries)
	c.entries = append(c.entries, e)
}

// remove takes entry i out of cell k, moving the last entry into its
// place; the shard's lock is held. A cell left empty stays (drivers come
// back and the cell's array with them) until the shard holds more empty
// cells than occupied ones.
func (s *cellShard) remove(k cellKey, i int) {
	c := s.cells[k]
	last := len(c.entries) - 1
	if i != last {
		c.entries[i] = c.entries[last]
		c.entries[i].slot.idx = i
	}
	c.entries[last] = entry{}
	c.entries = c.entries[:last]
	if last > 0 {
		return
	}
	if s.empty++; s.empty > 64 && s.empty > len(s.cells)/2 {
		for k, c := range s.cells {
			if len(c.entries) == 0 {
				delete(s.cells, k)
			}
		}
		s.empty = 0
	}
}

func lockPair(s []cellShard, a, b int) {
	if a > b {
		a, b = b, a
	}
	s[a].mu.Lock()
	if b != a {
		s[b].mu.Lock()
	}
}

func unlockPair(s []cellShard, a, b int) {
	s[a].mu.Unlock()
	if b != a {
		s[b].mu.Unlock()
	}
}

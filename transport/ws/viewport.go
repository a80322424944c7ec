package ws

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/outrider/outrider/wire"
)

// Viewports of the `fleet` channel. A fleet watcher that names the part
// of the map it shows — {"type":"subscribe","channel":"fleet",
// "viewport":{south,west,north,east,zoom?}}, changed later with
// {"type":"viewport","channel":"fleet","viewport":{…}} as the map moves —
// receives drivers only inside it: a snapshot of the drivers inside, then
// each one's newest position at most once per FleetInterval, a `driver`
// frame with his full state when he enters it, and his position once more
// when he leaves it (so the client moves the marker out). Everywhere
// else it receives counts: once per FleetInterval, when they changed, one
// `cells` frame holding the number of drivers in each Web Mercator tile
// (z/x/y, the tiles of map libraries) at the viewport's cell zoom that is
// not wholly inside the viewport, with the drivers' mean position in it.
// So a dispatcher's socket carries the drivers he can see, not the whole
// fleet: at 50,000 drivers each sending a fix a second, a city's viewport
// gets the city's drivers once a second and one frame of counts.
//
// The node keeps what it needs for this while it has fleet watchers:
// every driver's last position and state (fleet.known), read once from
// the driver read model when the first viewport watcher subscribes, then
// kept current from the fixes and state changes the fleet channel already
// follows.

// viewport is the bounding box a fleet watcher shows, in degrees. West
// greater than east means the box crosses the antimeridian. Zoom is the
// cells' zoom level; nil derives it from the box (cellZoom).
type viewport struct {
	South float64 `json:"south"`
	West  float64 `json:"west"`
	North float64 `json:"north"`
	East  float64 `json:"east"`
	Zoom  *int    `json:"zoom,omitempty"`
}

// MaxCellZoom is the finest zoom of fleet cells a client may ask for.
const MaxCellZoom = 16

// mercatorMaxLat is the latitude where Web Mercator tiles end.
const mercatorMaxLat = 85.05112878

// check returns why v is not a usable viewport ("" when it is).
func (v *viewport) check() string {
	for _, c := range []struct {
		name     string
		val, max float64
	}{{"south", v.South, 90}, {"north", v.North, 90}, {"west", v.West, 180}, {"east", v.East, 180}} {
		if math.IsNaN(c.val) || c.val < -c.max || c.val > c.max {
			return "viewport." + c.name + " must be within ±" + strconv.FormatFloat(c.max, 'f', -1, 64)
		}
	}
	if v.South >= v.North {
		return "viewport.south must be below viewport.north"
	}
	if v.West == v.East {
		return "viewport.west and viewport.east must differ"
	}
	if v.Zoom != nil && (*v.Zoom < 0 || *v.Zoom > MaxCellZoom) {
		return "viewport.zoom must be 0.." + strconv.Itoa(MaxCellZoom)
	}
	return ""
}

// contains reports whether (lat, lng) is inside v, edges included.
func (v *viewport) contains(lat, lng float64) bool {
	if lat < v.South || lat > v.North {
		return false
	}
	if v.West <= v.East {
		return lng >= v.West && lng <= v.East
	}
	return lng >= v.West || lng <= v.East // across the antimeridian
}

// width is the box's span of longitude in degrees.
func (v *viewport) width() float64 {
	if v.West <= v.East {
		return v.East - v.West
	}
	return 360 - v.West + v.East
}

// cellZoom is the zoom of the cells outside v: the one asked for, else
// three levels coarser than the zoom at which v's width is one tile (a
// city of ~30 km gets cells of ~300 km).
func (v *viewport) cellZoom() int {
	if v.Zoom != nil {
		return *v.Zoom
	}
	z := int(math.Floor(math.Log2(360/v.width()))) - 3
	return min(max(z, 0), MaxCellZoom)
}

// tile is a Web Mercator tile.
type tile struct{ x, y int }

// tileOf is the tile of (lat, lng) at zoom z.
func tileOf(lat, lng float64, z int) tile {
	n := float64(int(1) << z)
	lat = min(max(lat, -mercatorMaxLat), mercatorMaxLat)
	x := int(math.Floor((lng + 180) / 360 * n))
	r := lat * math.Pi / 180
	y := int(math.Floor((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n))
	last := int(n) - 1
	return tile{min(max(x, 0), last), min(max(y, 0), last)}
}

// bounds are a tile's edges in degrees.
func (t tile) bounds(z int) (south, west, north, east float64) {
	n := float64(int(1) << z)
	west = float64(t.x)/n*360 - 180
	east = float64(t.x+1)/n*360 - 180
	lat := func(y int) float64 { return math.Atan(math.Sinh(math.Pi*(1-2*float64(y)/n))) * 180 / math.Pi }
	return lat(t.y + 1), west, lat(t.y), east
}

// within reports whether tile t at zoom z lies wholly inside v (a tile
// never crosses the antimeridian, so two opposite corners tell).
func (v *viewport) within(t tile, z int) bool {
	s, w, n, e := t.bounds(z)
	return v.contains(s, w) && v.contains(n, e)
}

// cell is a tile's count of drivers and the sum of their positions.
type cell struct {
	count          int
	sumLat, sumLng float64
}

// cellCounts counts the drivers of known with a position per tile at zoom z.
func cellCounts(known map[string]*fleetDriver, z int) map[tile]*cell {
	out := map[tile]*cell{}
	for _, d := range known {
		if !d.placed {
			continue
		}
		t := tileOf(d.lat, d.lng, z)
		c := out[t]
		if c == nil {
			c = &cell{}
			out[t] = c
		}
		c.count++
		c.sumLat += d.lat
		c.sumLng += d.lng
	}
	return out
}

// cellsJSON is the JSON array of the counts outside v, in tile order so
// that equal counts make equal arrays.
func cellsJSON(v *viewport, z int, counts map[tile]*cell) []byte {
	type cellJSON struct {
		X     int     `json:"x"`
		Y     int     `json:"y"`
		Count int     `json:"count"`
		Lat   float64 `json:"lat"`
		Lng   float64 `json:"lng"`
	}
	tiles := make([]tile, 0, len(counts))
	for t := range counts {
		if !v.within(t, z) {
			tiles = append(tiles, t)
		}
	}
	slices.SortFunc(tiles, func(a, b tile) int {
		if a.x != b.x {
			return a.x - b.x
		}
		return a.y - b.y
	})
	cells := make([]cellJSON, len(tiles))
	for i, t := range tiles {
		c := counts[t]
		cells[i] = cellJSON{X: t.x, Y: t.y, Count: c.count,
			Lat: round6(c.sumLat / float64(c.count)), Lng: round6(c.sumLng / float64(c.count))}
	}
	b, _ := json.Marshal(cells)
	return b
}

// cellsFrame is {"type":"cells","channel":"fleet","zoom","cells","at"}.
func cellsFrame(z int, cells []byte, at time.Time) []byte {
	b := make([]byte, 0, len(cells)+96)
	b = append(b, `{"type":"cells","channel":"fleet","zoom":`...)
	b = strconv.AppendInt(b, int64(z), 10)
	b = append(b, `,"cells":`...)
	b = append(b, cells...)
	b = append(b, `,"at":"`...)
	b = append(b, wire.Timestamp(at)...)
	return append(b, `"}`...)
}

// round6 rounds to 6 decimals (~10 cm), so that a mean does not change
// the frame by noise alone.
func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

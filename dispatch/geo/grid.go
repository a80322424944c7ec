package geo

import "math"

// A grid cuts the sphere into rows of equal latitude height and cuts each
// row into equal columns, fewer towards the poles, so that cells stay
// roughly square in metres at every latitude: a row's column width,
// measured on its edge nearest the equator, is at most its height. The
// rows touching a pole are a single cell each, a cap around the pole. Columns start at −180° and
// wrap at the antimeridian.
//
// The same geometry serves the index's fine cells (Options.CellM) and the
// zones of ZoneOf (ZoneDeg).
type grid struct {
	hDeg float64 // row height, degrees of latitude
	rows int
	cols []int32 // columns in each row
}

func newGrid(hDeg float64) *grid {
	g := &grid{hDeg: hDeg, rows: int(math.Ceil(180 / hDeg))}
	g.cols = make([]int32, g.rows)
	for r := range g.cols {
		g.cols[r] = int32(colsInRow(hDeg, r))
	}
	return g
}

// colsInRow is the number of columns in row r of a grid of rows hDeg high.
func colsInRow(hDeg float64, r int) int {
	lat0 := -90 + float64(r)*hDeg
	lat1 := min(90, lat0+hDeg)
	if r == 0 || lat1 >= 90 {
		return 1 // a polar cap: one cell, so that the pole has one key
	}
	eq := 0.0 // the row's latitude nearest the equator
	if lat0 > 0 {
		eq = lat0
	} else if lat1 < 0 {
		eq = -lat1
	}
	n := int(math.Ceil(360 * math.Cos(eq*rad) / hDeg))
	return max(1, n)
}

// row is the row holding latitude lat (in [-90, 90]).
func (g *grid) row(lat float64) int {
	return min(g.rows-1, max(0, int((lat+90)/g.hDeg)))
}

// col is the unwrapped column of longitude lng in a row of n columns:
// lng in [-180, 180) gives [0, n); lng outside gives columns outside,
// to be taken modulo n.
func col(n int, lng float64) int {
	return int(math.Floor((lng + 180) / 360 * float64(n)))
}

// wrap takes an unwrapped column modulo n.
func wrap(c, n int) int {
	c %= n
	if c < 0 {
		c += n
	}
	return c
}

// cellKey names cell (r, c) of a grid; c in [0, cols[r]).
type cellKey uint64

func key(r, c int) cellKey { return cellKey(uint64(r)<<32 | uint64(uint32(c))) }

// cellOf is the key of the cell holding (lat, lng), lng in [-180, 180).
func (g *grid) cellOf(lat, lng float64) cellKey {
	r := g.row(lat)
	n := int(g.cols[r])
	return key(r, min(n-1, max(0, col(n, lng))))
}

// span is the columns of one row that a cap's box covers: unwrapped
// [lo, hi], or the whole row when hi-lo+1 >= n.
type span struct{ lo, hi int }

// rowSpan is the span of row r (n columns) covered by longitudes
// lng±dLng, all of them when allLng.
func rowSpan(n int, lng, dLng float64, allLng bool) span {
	if allLng {
		return span{0, n - 1}
	}
	s := span{col(n, lng-dLng), col(n, lng+dLng)}
	if s.hi-s.lo+1 >= n {
		return span{0, n - 1}
	}
	return s
}

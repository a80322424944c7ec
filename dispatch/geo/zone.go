package geo

import (
	"slices"
	"strconv"
)

// ZoneDeg is the height of a zone in degrees of latitude (≈13.9 km).
//
// Zones are the coarse cells a later change will partition the index
// across the cluster by (a zone actor owning the drivers of its zones),
// so their keys must mean the same on every node and across releases:
// they use the grid geometry of the index (grid.go) with rows of ZoneDeg,
// a binary fraction of a degree so that the row edges are exact. A zone
// is at most ≈13.9 km high and ≈13.9 km wide (and more than half as
// wide); towards the poles a row has fewer zones, and the two polar rows
// are one zone each, a cap of radius ≈13.9 km. Changing ZoneDeg or the
// geometry renames every zone: do it under a new key prefix.
//
// A grid rather than S2 cells: its keys need no library, a circle's zones
// are the columns of a few rows, and at this level the difference in
// zone area between the equator and 60° (S2's cells vary ~2× too) does
// not matter for sharding. The fine cells of an index are the same
// geometry at Options.CellM.
const ZoneDeg = 0.125

// zonePrefix starts every zone key; it names the geometry (rows of 1/8°).
const zonePrefix = "z8:"

var zones = newGrid(ZoneDeg)

// ZoneOf is the key of the zone holding the point, "z8:<row>:<col>", or
// "" for a latitude outside [-90, 90] or a coordinate that is not finite.
func ZoneOf(lat, lng float64) string {
	lng, ok := normLng(lng)
	if !validLat(lat) || !ok {
		return ""
	}
	k := zones.cellOf(lat, lng)
	return zoneKey(int(k>>32), int(uint32(k)))
}

// ZonesFor is the keys of the zones that the circle of radiusM metres
// about the point may reach, ordered by row then column, each once: the
// zones ZoneOf gives for the points within radiusM, and perhaps a few
// around them (it covers the circle's latitude-longitude box). It is nil
// for an invalid point or a negative radius.
func ZonesFor(lat, lng, radiusM float64) []string {
	lng, ok := normLng(lng)
	if !validLat(lat) || !ok || !(radiusM >= 0) {
		return nil
	}
	latMin, latMax, dLng, allLng := capBounds(lat, radiusM*(1+1e-9)+1e-3)
	var out []string
	var cols []int
	for r := zones.row(latMin); r <= zones.row(latMax); r++ {
		n := int(zones.cols[r])
		sp := rowSpan(n, lng, dLng, allLng)
		cols = cols[:0]
		for c := sp.lo; c <= sp.hi; c++ {
			cols = append(cols, wrap(c, n))
		}
		slices.Sort(cols)
		for _, c := range cols {
			out = append(out, zoneKey(r, c))
		}
	}
	return out
}

func zoneKey(r, c int) string {
	return zonePrefix + strconv.Itoa(r) + ":" + strconv.Itoa(c)
}

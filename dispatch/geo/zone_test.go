package geo

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// destination is the point distM metres from (lat, lng) along the
// initial bearing (radians): the way tests place points within a circle.
func destination(lat, lng, bearing, distM float64) (float64, float64) {
	d := distM / EarthRadiusM
	φ1, λ1 := lat*rad, lng*rad
	φ2 := math.Asin(math.Sin(φ1)*math.Cos(d) + math.Cos(φ1)*math.Sin(d)*math.Cos(bearing))
	λ2 := λ1 + math.Atan2(math.Sin(bearing)*math.Sin(d)*math.Cos(φ1), math.Cos(d)-math.Sin(φ1)*math.Sin(φ2))
	lat2 := max(-90, min(90, φ2/rad))
	lng2, _ := normLng(λ2 / rad)
	return lat2, lng2
}

func parseZone(t *testing.T, z string) (r, c int) {
	t.Helper()
	rest, ok := strings.CutPrefix(z, zonePrefix)
	require.True(t, ok, z)
	rs, cs, ok := strings.Cut(rest, ":")
	require.True(t, ok, z)
	r, err := strconv.Atoi(rs)
	require.NoError(t, err)
	c, err = strconv.Atoi(cs)
	require.NoError(t, err)
	return r, c
}

func TestZoneOf(t *testing.T) {
	t.Parallel()
	// Keys are stable across releases: these pin the geometry.
	require.Equal(t, "z8:1140:942", ZoneOf(52.52, 13.40))
	require.Equal(t, ZoneOf(0, -180), ZoneOf(0, 180))
	require.Equal(t, ZoneOf(10, 10), ZoneOf(10, 370))
	require.Equal(t, ZoneOf(90, 0), ZoneOf(90, 123), "the polar row is one zone")
	require.Equal(t, ZoneOf(-90, -180), ZoneOf(-89.99, 179.99))
	for _, p := range [][2]float64{{91, 0}, {math.NaN(), 0}, {0, math.Inf(-1)}} {
		require.Empty(t, ZoneOf(p[0], p[1]))
	}

	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		lat, lng := rng.Float64()*180-90, rng.Float64()*360-180
		r, c := parseZone(t, ZoneOf(lat, lng))
		lat0, lat1, lng0, lng1 := zoneBounds(r, c)
		require.True(t, lat >= lat0 && lat <= lat1 && lng >= lng0 && lng <= lng1, "(%v, %v) in %d:%d", lat, lng, r, c)
	}
}

// TestZoneSize checks that zones stay about ZoneDeg square in metres at
// every latitude: no wider than high, and more than half as wide.
func TestZoneSize(t *testing.T) {
	t.Parallel()
	h := ZoneDeg * metresPerDegree
	require.EqualValues(t, 1, zones.cols[0])
	require.EqualValues(t, 1, zones.cols[zones.rows-1])
	for r := 1; r < zones.rows-1; r++ {
		n := int(zones.cols[r])
		lat0, lat1, _, _ := zoneBounds(r, 0)
		eq := min(math.Abs(lat0), math.Abs(lat1))
		if lat0 < 0 && lat1 > 0 {
			eq = 0
		}
		width := 360 / float64(n) * metresPerDegree * math.Cos(eq*rad)
		require.LessOrEqual(t, width, h*(1+1e-9), "row %d", r)
		require.Greater(t, width, h/2, "row %d", r)
	}
}

func TestZonesFor(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{ZoneOf(52.52, 13.4)}, ZonesFor(52.52, 13.4, 0)[:1])
	require.Nil(t, ZonesFor(52.52, 13.4, -1))
	require.Nil(t, ZonesFor(95, 13.4, 1))
	require.Len(t, ZonesFor(90, 0, 1000), 1, "a small circle at the pole is in the polar zone")

	centres := []struct {
		name     string
		lat, lng float64
	}{
		{"berlin", 52.52, 13.40}, {"antimeridian", -16.5, 179.99}, {"antimeridian-west", 64, -179.95},
		{"north-pole", 89.95, 30}, {"south-pole", -89.9, -120}, {"equator", 0, 0},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range centres {
		for _, radius := range []float64{0, 500, 3000, 20000, 150000} {
			zs := ZonesFor(c.lat, c.lng, radius)
			require.NotEmpty(t, zs, c.name)
			require.True(t, slices.IsSortedFunc(zs, func(a, b string) int {
				ra, ca := parseZone(t, a)
				rb, cb := parseZone(t, b)
				if ra != rb {
					return ra - rb
				}
				return ca - cb
			}), "%s %v: %v", c.name, radius, zs)
			require.Len(t, slices.Compact(slices.Clone(zs)), len(zs), "no zone twice")
			for range 2000 {
				lat, lng := destination(c.lat, c.lng, rng.Float64()*2*math.Pi, radius*math.Sqrt(rng.Float64()))
				require.Contains(t, zs, ZoneOf(lat, lng), "%s r=%v: (%v, %v)", c.name, radius, lat, lng)
			}
		}
	}
}

// zoneBounds is the latitudes and longitudes zone (r, c) covers.
func zoneBounds(r, c int) (lat0, lat1, lng0, lng1 float64) {
	n := float64(zones.cols[r])
	lat0 = -90 + float64(r)*ZoneDeg
	return lat0, math.Min(90, lat0+ZoneDeg), -180 + float64(c)*360/n, -180 + float64(c+1)*360/n
}

package geo

import "math"

// EarthRadiusM is the sphere the index measures on, in metres: the same
// radius as actors/driver.Distance, so a distance recorded by dispatch
// agrees with one the driver actor computes.
const EarthRadiusM = 6371000.0

const (
	rad = math.Pi / 180
	// metresPerDegree is the length of one degree of latitude (and of
	// longitude on the equator).
	metresPerDegree = EarthRadiusM * rad
)

// DistanceM is the great-circle distance between two points in metres
// (haversine). Nearest reports exactly this value for every hit.
func DistanceM(lat1, lng1, lat2, lng2 float64) float64 {
	return haversine(lat1, lng1, math.Cos(lat1*rad), lat2, lng2, math.Cos(lat2*rad))
}

// haversine is DistanceM with the cosines of the latitudes given, so the
// index can keep a driver's cosine instead of computing it per query.
func haversine(lat1, lng1, cos1, lat2, lng2, cos2 float64) float64 {
	sLat := math.Sin((lat2 - lat1) * rad / 2)
	sLng := math.Sin((lng2 - lng1) * rad / 2)
	a := sLat*sLat + cos1*cos2*sLng*sLng
	return 2 * EarthRadiusM * math.Asin(math.Min(1, math.Sqrt(a)))
}

// validLat reports whether lat is a latitude in degrees.
func validLat(lat float64) bool { return lat >= -90 && lat <= 90 } // false for NaN

// normLng wraps a finite longitude into [-180, 180); ok is false for NaN
// and ±Inf.
func normLng(lng float64) (float64, bool) {
	if math.IsNaN(lng) || math.IsInf(lng, 0) {
		return 0, false
	}
	if lng >= -180 && lng < 180 {
		return lng, true
	}
	lng = math.Mod(lng+180, 360)
	if lng < 0 {
		lng += 360
	}
	return lng - 180, true
}

// capBounds is the latitude-longitude box around the spherical cap of
// radius radiusM about (lat, lng): latitudes [latMin, latMax] and
// longitudes lng±dLng, or every longitude when allLng (the cap holds a
// pole or spans half the globe). The box is exact for a cap: for any
// point within radiusM, |Δlng| ≤ dLng.
func capBounds(lat, radiusM float64) (latMin, latMax, dLng float64, allLng bool) {
	d := radiusM / EarthRadiusM // angular radius, radians
	latMin, latMax = lat-d/rad, lat+d/rad
	if d >= math.Pi/2 || latMax >= 90 || latMin <= -90 {
		return max(latMin, -90), min(latMax, 90), 180, true
	}
	s := math.Sin(d) / math.Cos(lat*rad)
	if s >= 1 {
		return latMin, latMax, 180, true
	}
	return latMin, latMax, math.Asin(s) / rad, false
}

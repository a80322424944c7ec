package driver

import (
	"math"

	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// Reasons a fix is dropped.
const (
	FixAccepted = ""
	FixStale    = "stale"   // not newer than the last accepted fix
	FixJump     = "jump"    // implies an impossible speed since the last fix
	FixInvalid  = "invalid" // coordinates out of range or not finite
)

// MaxPlausibleSpeed is the fastest a delivery vehicle is believed to move
// (m/s, ≈ 250 km/h); a fix implying more is a GPS jump and is dropped.
const MaxPlausibleSpeed = 70.0

// ValidFix reports whether f's numbers can be a position at all.
func ValidFix(f *pb.Fix) bool {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if f == nil || !finite(f.Lat) || !finite(f.Lng) || f.Lat < -90 || f.Lat > 90 || f.Lng < -180 || f.Lng > 180 {
		return false
	}
	if f.Heading != nil && (!finite(*f.Heading) || *f.Heading < 0 || *f.Heading > 360) {
		return false
	}
	if f.Speed != nil && (!finite(*f.Speed) || *f.Speed < 0) {
		return false
	}
	if f.Accuracy != nil && (!finite(*f.Accuracy) || *f.Accuracy < 0) {
		return false
	}
	return f.TsMs > 0
}

// AcceptFix decides whether fix follows last (nil: no fix yet) and
// returns "" to accept it or the reason to drop it.
func AcceptFix(last, fix *pb.Fix, maxSpeed float64) string {
	if !ValidFix(fix) {
		return FixInvalid
	}
	if last == nil {
		return FixAccepted
	}
	if fix.TsMs <= last.TsMs {
		return FixStale
	}
	secs := float64(fix.TsMs-last.TsMs) / 1000
	if Distance(last.Lat, last.Lng, fix.Lat, fix.Lng)/secs > maxSpeed {
		return FixJump
	}
	return FixAccepted
}

// Distance is the great-circle distance in metres (haversine).
func Distance(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371000.0
	rad := math.Pi / 180
	dLat, dLng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// LocationSubject is the bus subject of a driver's live fixes:
// wire.LocationSubject, which new code calls directly.
func LocationSubject(driverID string) string { return wire.LocationSubject(driverID) }

// WithLocation returns a copy of s whose last location is f. States are
// never changed in place: a reply may still hold the previous one (local
// replies are not serialised).
func WithLocation(s *pb.DriverState, f *pb.Fix) *pb.DriverState {
	return &pb.DriverState{Id: s.Id, Available: s.Available, Capacity: s.Capacity, Version: s.Version,
		UpdatedAtMs: s.UpdatedAtMs, RecentCommandIds: s.RecentCommandIds, LastLocation: f}
}

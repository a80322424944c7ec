package driver_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors/driver"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

func f64(v float64) *float64 { return &v }

func TestAcceptFix(t *testing.T) {
	t.Parallel()
	base := &pb.Fix{Lat: 52.52, Lng: 13.405, TsMs: 1_000_000}
	cases := []struct {
		name string
		last *pb.Fix
		fix  *pb.Fix
		want string
	}{
		{"first fix", nil, base, driver.FixAccepted},
		{"10 m in 1 s", base, &pb.Fix{Lat: 52.52009, Lng: 13.405, TsMs: 1_001_000}, driver.FixAccepted},
		{"same time", base, &pb.Fix{Lat: 52.52, Lng: 13.405, TsMs: 1_000_000}, driver.FixStale},
		{"older", base, &pb.Fix{Lat: 52.52, Lng: 13.405, TsMs: 999_000}, driver.FixStale},
		{"10 km in 1 s", base, &pb.Fix{Lat: 52.61, Lng: 13.405, TsMs: 1_001_000}, driver.FixJump},
		{"10 km in 10 min", base, &pb.Fix{Lat: 52.61, Lng: 13.405, TsMs: 1_600_000}, driver.FixAccepted},
		{"NaN lat", nil, &pb.Fix{Lat: math.NaN(), Lng: 1, TsMs: 1}, driver.FixInvalid},
		{"Inf lng", nil, &pb.Fix{Lat: 1, Lng: math.Inf(1), TsMs: 1}, driver.FixInvalid},
		{"lat 91", nil, &pb.Fix{Lat: 91, Lng: 1, TsMs: 1}, driver.FixInvalid},
		{"lng -181", nil, &pb.Fix{Lat: 1, Lng: -181, TsMs: 1}, driver.FixInvalid},
		{"heading 400", nil, &pb.Fix{Lat: 1, Lng: 1, TsMs: 1, Heading: f64(400)}, driver.FixInvalid},
		{"negative speed", nil, &pb.Fix{Lat: 1, Lng: 1, TsMs: 1, Speed: f64(-1)}, driver.FixInvalid},
		{"NaN accuracy", nil, &pb.Fix{Lat: 1, Lng: 1, TsMs: 1, Accuracy: f64(math.NaN())}, driver.FixInvalid},
		{"no timestamp", nil, &pb.Fix{Lat: 1, Lng: 1}, driver.FixInvalid},
		{"poles and antimeridian", nil, &pb.Fix{Lat: -90, Lng: 180, TsMs: 1}, driver.FixAccepted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, driver.AcceptFix(tc.last, tc.fix, driver.MaxPlausibleSpeed))
		})
	}
}

func TestDistance(t *testing.T) {
	t.Parallel()
	// Berlin to Paris is about 878 km.
	d := driver.Distance(52.5200, 13.4050, 48.8566, 2.3522)
	require.InDelta(t, 878_000, d, 5_000)
	require.Zero(t, driver.Distance(1, 2, 1, 2))
}

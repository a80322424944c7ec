package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence"
)

// testLocations: batches append to the history, a trail comes back in
// time order within its window, and the driver's last location follows
// the newest fix, never moving back to an older one.
func testLocations(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Parallel()
	b := open(t)
	ctx := context.Background()
	addDriver(t, b, "usr_loc1", 1, true)
	addDriver(t, b, "usr_loc2", 1, true)
	fix := func(id string, sec int, lat float64) persistence.LocationFix {
		return persistence.LocationFix{DriverID: id, Lat: lat, Lng: 13.4, At: t0.Add(time.Duration(sec) * time.Second),
			Speed: ptr(4.5)}
	}
	// record writes fixes to the history and moves the last locations.
	record := func(fixes ...persistence.LocationFix) {
		require.NoError(t, b.RecordLocations(ctx, fixes, fixes))
	}
	// Out of order within a batch, two drivers interleaved.
	record(fix("usr_loc1", 3, 52.3), fix("usr_loc1", 1, 52.1), fix("usr_loc2", 2, 48.2), fix("usr_loc1", 2, 52.2))
	record(fix("usr_loc1", 10, 52.9))
	// A late, older fix is recorded but does not move the last location.
	record(fix("usr_loc1", 5, 52.5))
	record()
	// A fix for the history only leaves the last location where it was.
	require.NoError(t, b.RecordLocations(ctx, []persistence.LocationFix{fix("usr_loc2", 20, 49.0)}, nil))
	d2, err := b.GetDriver(ctx, "usr_loc2")
	require.NoError(t, err)
	require.NotNil(t, d2.LastLocation)
	require.Equal(t, 48.2, d2.LastLocation.Lat, "history only")
	trail2, err := b.Trail(ctx, "usr_loc2", t0, t0.Add(time.Hour), 100)
	require.NoError(t, err)
	require.Len(t, trail2, 2, "both fixes are in the history")

	trail, err := b.Trail(ctx, "usr_loc1", t0, t0.Add(time.Hour), 100)
	require.NoError(t, err)
	var lats []float64
	for _, f := range trail {
		lats = append(lats, f.Lat)
		require.Equal(t, "usr_loc1", f.DriverID)
		require.NotNil(t, f.Speed)
		require.Nil(t, f.Heading)
	}
	require.Equal(t, []float64{52.1, 52.2, 52.3, 52.5, 52.9}, lats)

	window, err := b.Trail(ctx, "usr_loc1", t0.Add(2*time.Second), t0.Add(10*time.Second), 100)
	require.NoError(t, err)
	require.Len(t, window, 3, "from is inclusive, to exclusive")
	limited, err := b.Trail(ctx, "usr_loc1", t0, t0.Add(time.Hour), 2)
	require.NoError(t, err)
	require.Len(t, limited, 2)
	require.Equal(t, t0.Add(time.Second), limited[0].At)

	d, err := b.GetDriver(ctx, "usr_loc1")
	require.NoError(t, err)
	require.NotNil(t, d.LastLocation)
	require.Equal(t, 52.9, d.LastLocation.Lat)
	require.Equal(t, t0.Add(10*time.Second), d.LastLocation.At)
	d2, err = b.GetDriver(ctx, "usr_loc2")
	require.NoError(t, err)
	require.Equal(t, 48.2, d2.LastLocation.Lat)
}

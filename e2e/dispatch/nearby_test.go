package dispatch_test

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/dispatch/geo"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// nearbyItem is one item of GET /v1/drivers/nearby.
type nearbyItem struct {
	wire.Driver
	DistanceM float64 `json:"distance_m"`
}

func nearby(t *testing.T, a *e2e.API, query string) []nearbyItem {
	t.Helper()
	var out struct {
		Items []nearbyItem `json:"items"`
	}
	a.Admin.Get(t, "/v1/drivers/nearby?"+query).Decode(t, http.StatusOK, &out)
	return out.Items
}

func nearbyIDs(items []nearbyItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// waitNearby polls the query until its ids are want, and returns the items.
func waitNearby(t *testing.T, a *e2e.API, query string, want []string) []nearbyItem {
	t.Helper()
	var items []nearbyItem
	e2e.Eventually(t, e2e.EventWait, func() bool {
		items = nearby(t, a, query)
		return slices.Equal(nearbyIDs(items), want)
	}, "GET /v1/drivers/nearby?%s never listed %v", query, want)
	return items
}

type point struct{ lat, lng float64 }

func fix(p point, at time.Time) map[string]any {
	return map[string]any{"type": "location", "lat": p.lat, "lng": p.lng, "ts": at.UnixMilli()}
}

// TestNearbyDrivers places drivers around a point just south of a zone
// border (lat 40.0 is a row edge of geo.ZoneDeg), sends their fixes over
// their sockets, and reads GET /v1/drivers/nearby.
func TestNearbyDrivers(t *testing.T) {
	n, a := e2e.Up(t, func(c *app.Config) {
		apiOnly(c)
		c.WS.LocationRate = 1000 // this test is about positions, not throttling
	})
	q := point{39.9990, 100.3000}
	at := map[string]point{
		"east":        {39.9990, 100.3010}, // ≈ 85 m
		"south":       {39.9970, 100.3000}, // ≈ 222 m
		"north":       {40.0012, 100.3000}, // ≈ 245 m, across the border
		"unavailable": {39.9985, 100.3000}, // ≈ 56 m
		"far":         {40.0300, 100.3000}, // ≈ 3.4 km
	}
	require.NotEqual(t, geo.ZoneOf(q.lat, q.lng), geo.ZoneOf(at["north"].lat, at["north"].lng))
	require.Equal(t, geo.ZoneOf(q.lat, q.lng), geo.ZoneOf(at["east"].lat, at["east"].lng))

	ids := map[string]string{} // name → driver id
	callers := map[string]*e2e.Caller{}
	names := map[string]string{}
	now := time.Now()
	for _, name := range []string{"east", "south", "north", "unavailable", "far"} {
		d := a.CreateDriver(t, 0, name != "unavailable")
		ids[name], names[d.ID()], callers[name] = d.ID(), name, d
		e2e.Dial(t, name, n.Addr(), d.Token, nil).Send(fix(at[name], now))
	}
	// byDistance is the ids of the named drivers as the API orders them.
	byDistance := func(which ...string) []string {
		out := make([]string, len(which))
		for i, name := range which {
			out[i] = ids[name]
		}
		dist := func(id string) float64 { p := at[names[id]]; return geo.DistanceM(q.lat, q.lng, p.lat, p.lng) }
		slices.SortFunc(out, func(x, y string) int { return cmp.Or(cmp.Compare(dist(x), dist(y)), cmp.Compare(x, y)) })
		return out
	}
	query := func(radius, limit int, available bool) string {
		return fmt.Sprintf("lat=%v&lng=%v&radius_m=%d&limit=%d&available=%v", q.lat, q.lng, radius, limit, available)
	}

	t.Run("every driver within the radius, nearest first, with the haversine distance", func(t *testing.T) {
		want := byDistance("east", "south", "north", "unavailable", "far")
		items := waitNearby(t, a, query(5000, 10, false), want)
		require.Equal(t, []string{"unavailable", "east", "south", "north", "far"},
			[]string{names[items[0].ID], names[items[1].ID], names[items[2].ID], names[items[3].ID], names[items[4].ID]})
		for _, it := range items {
			p := at[names[it.ID]]
			require.InDelta(t, geo.DistanceM(q.lat, q.lng, p.lat, p.lng), it.DistanceM, 1e-6, names[it.ID])
			require.NotNil(t, it.LastLocation, names[it.ID])
			require.Equal(t, p.lat, it.LastLocation.Lat)
			require.Equal(t, p.lng, it.LastLocation.Lng)
			require.Equal(t, names[it.ID] != "unavailable", it.Available)
			require.True(t, it.Online, "the driver holds a socket")
			require.NotEmpty(t, it.Email, "the item is the driver record")
		}
	})
	t.Run("the radius leaves the far driver out", func(t *testing.T) {
		require.Equal(t, byDistance("east", "south", "north", "unavailable"), nearbyIDs(nearby(t, a, query(2000, 10, false))))
		require.Equal(t, byDistance("east", "unavailable"), nearbyIDs(nearby(t, a, query(100, 10, false))))
	})
	t.Run("the limit takes the nearest", func(t *testing.T) {
		require.Equal(t, byDistance("east", "unavailable"), nearbyIDs(nearby(t, a, query(5000, 2, false))))
	})
	t.Run("available=true leaves unavailable drivers out", func(t *testing.T) {
		require.Equal(t, byDistance("east", "south", "north", "far"), nearbyIDs(nearby(t, a, query(5000, 10, true))))
	})
	t.Run("a change of availability reaches the zone without a fix", func(t *testing.T) {
		// The zone filters on its own copy of availability: the driver
		// actor tells it after the commit.
		callers["unavailable"].SetAvailable(t, true)
		waitNearby(t, a, query(5000, 10, true), byDistance("east", "south", "north", "unavailable", "far"))
		callers["unavailable"].SetAvailable(t, false)
		waitNearby(t, a, query(5000, 10, true), byDistance("east", "south", "north", "far"))
	})
	t.Run("across the zone border from the other side", func(t *testing.T) {
		// From just north of the border the south zone's drivers are found too.
		items := nearby(t, a, "lat=40.0005&lng=100.3&radius_m=400&limit=10")
		require.Contains(t, nearbyIDs(items), ids["north"])
		require.Contains(t, nearbyIDs(items), ids["east"])
	})
	t.Run("a driver who moved is found at the new place only", func(t *testing.T) {
		d := a.CreateDriver(t, 0, true)
		names[d.ID()] = "mover"
		ws := e2e.Dial(t, "mover", n.Addr(), d.Token, nil)
		before := point{39.9991, 100.3002} // ≈ 20 m from q
		ws.Send(fix(before, time.Now().Add(-100*time.Second)))
		eventuallyIn(t, a, query(100, 10, false), d.ID())
		// 2.3 km north in 100 s (23 m/s, a plausible speed), into the
		// next zone.
		after := point{40.0200, 100.3000}
		require.NotEqual(t, geo.ZoneOf(before.lat, before.lng), geo.ZoneOf(after.lat, after.lng))
		ws.Send(fix(after, time.Now()))
		e2e.Eventually(t, e2e.EventWait, func() bool {
			return !slices.Contains(nearbyIDs(nearby(t, a, query(100, 10, false))), d.ID())
		}, "the mover is still found at his old place")
		var found []nearbyItem
		for _, it := range nearby(t, a, query(5000, 10, false)) {
			if it.ID == d.ID() {
				found = append(found, it)
			}
		}
		require.Len(t, found, 1)
		require.InDelta(t, geo.DistanceM(q.lat, q.lng, after.lat, after.lng), found[0].DistanceM, 1e-6)
		require.Equal(t, after.lat, found[0].LastLocation.Lat)
	})
	t.Run("an invalid query is 422", func(t *testing.T) {
		a.Admin.Get(t, "/v1/drivers/nearby?lat=91&lng=0", e2e.InvalidRequest()).Problem(t, http.StatusUnprocessableEntity, "validation_failed")
	})
}

// eventuallyIn polls the query until it lists id.
func eventuallyIn(t *testing.T, a *e2e.API, query, id string) {
	t.Helper()
	e2e.Eventually(t, e2e.EventWait, func() bool { return slices.Contains(nearbyIDs(nearby(t, a, query)), id) },
		"%s never listed in %s", id, query)
}

package geo

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func ids(hits []Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

// TestNearestCases pins the rules of Nearest one at a time.
func TestNearestCases(t *testing.T) {
	t.Parallel()
	const lat, lng = 52.52, 13.40
	at := func(id string, dLat, dLng float64) Driver {
		return Driver{ID: id, Lat: lat + dLat, Lng: lng + dLng, FixAt: t0, Available: true, Spare: 1}
	}
	edge := DistanceM(lat, lng, lat+0.01, lng)
	cases := []struct {
		name    string
		drivers []Driver
		do      func(t *testing.T, ix *Index) // after the drivers are in
		q       Query
		want    []string
	}{{
		name:    "radius edge: a driver at exactly RadiusM is in",
		drivers: []Driver{at("a", 0.01, 0)},
		q:       Query{Lat: lat, Lng: lng, RadiusM: edge, Limit: 5},
		want:    []string{"a"},
	}, {
		name:    "radius edge: a hair less leaves it out",
		drivers: []Driver{at("a", 0.01, 0)},
		q:       Query{Lat: lat, Lng: lng, RadiusM: math.Nextafter(edge, 0), Limit: 5},
		want:    []string{},
	}, {
		name:    "limit keeps the nearest, ties by ID",
		drivers: []Driver{at("e", 0.004, 0), at("c", 0.001, 0), at("b", 0.001, 0), at("d", 0.003, 0), at("a", 0.002, 0)},
		q:       Query{Lat: lat, Lng: lng, RadiusM: 5000, Limit: 3},
		want:    []string{"b", "c", "a"},
	}, {
		name: "stale fixes are dropped, a fix exactly MaxFixAge old is kept",
		drivers: []Driver{
			{ID: "fresh", Lat: lat, Lng: lng, FixAt: t0.Add(-time.Minute)},
			{ID: "edge", Lat: lat, Lng: lng, FixAt: t0.Add(-2 * time.Minute)},
			{ID: "stale", Lat: lat, Lng: lng, FixAt: t0.Add(-2*time.Minute - time.Nanosecond)},
		},
		q:    Query{Lat: lat, Lng: lng, RadiusM: 100, Limit: 5, MaxFixAge: 2 * time.Minute, Now: t0},
		want: []string{"edge", "fresh"},
	}, {
		name: "AvailableOnly needs available and spare capacity",
		drivers: []Driver{
			{ID: "ok", Lat: lat, Lng: lng, Available: true, Spare: 2},
			{ID: "full", Lat: lat, Lng: lng, Available: true, Spare: 0},
			{ID: "off", Lat: lat, Lng: lng, Available: false, Spare: 2},
		},
		q:    Query{Lat: lat, Lng: lng, RadiusM: 100, Limit: 5, AvailableOnly: true},
		want: []string{"ok"},
	}, {
		name:    "without AvailableOnly every driver counts",
		drivers: []Driver{{ID: "full", Lat: lat, Lng: lng, Available: true}, {ID: "off", Lat: lat, Lng: lng}},
		q:       Query{Lat: lat, Lng: lng, RadiusM: 100, Limit: 5},
		want:    []string{"full", "off"},
	}, {
		name:    "Exclude drops the cooled-off drivers and the next come in",
		drivers: []Driver{at("a", 0.001, 0), at("b", 0.002, 0), at("c", 0.003, 0)},
		q:       Query{Lat: lat, Lng: lng, RadiusM: 5000, Limit: 2, Exclude: func(id string) bool { return id == "a" }},
		want:    []string{"b", "c"},
	}, {
		name:    "a moved driver is found at its new place only",
		drivers: []Driver{at("a", 0, 0), at("b", 0.001, 0)},
		do: func(t *testing.T, ix *Index) {
			moved, err := ix.Move("a", lat+0.5, lng, t0.Add(time.Second))
			require.NoError(t, err)
			require.True(t, moved)
		},
		q:    Query{Lat: lat, Lng: lng, RadiusM: 1000, Limit: 5},
		want: []string{"b"},
	}, {
		name:    "... and it is at the new place",
		drivers: []Driver{at("a", 0, 0), at("b", 0.5, 0)},
		do: func(t *testing.T, ix *Index) {
			_, err := ix.Move("a", lat+0.5, lng+0.0001, t0.Add(time.Second))
			require.NoError(t, err)
		},
		q:    Query{Lat: lat + 0.5, Lng: lng, RadiusM: 1000, Limit: 5},
		want: []string{"b", "a"},
	}, {
		name:    "a fix older than the one held is ignored",
		drivers: []Driver{at("a", 0, 0)},
		do: func(t *testing.T, ix *Index) {
			moved, err := ix.Move("a", lat+0.5, lng, t0.Add(-time.Second))
			require.NoError(t, err)
			require.False(t, moved)
		},
		q:    Query{Lat: lat, Lng: lng, RadiusM: 100, Limit: 5},
		want: []string{"a"},
	}, {
		name:    "a fix keeps the state; Upsert replaces it",
		drivers: []Driver{at("a", 0, 0), at("b", 0, 0)},
		do: func(t *testing.T, ix *Index) {
			_, err := ix.Move("a", lat, lng, t0.Add(time.Second))
			require.NoError(t, err)
			require.NoError(t, ix.Upsert(Driver{ID: "b", Lat: lat, Lng: lng, FixAt: t0}))
		},
		q:    Query{Lat: lat, Lng: lng, RadiusM: 100, Limit: 5, AvailableOnly: true},
		want: []string{"a"},
	}, {
		name: "a fix of an unknown driver adds it unavailable until SetState",
		do: func(t *testing.T, ix *Index) {
			require.False(t, ix.SetState("a", true, 1))
			moved, err := ix.Move("a", lat, lng, t0)
			require.NoError(t, err)
			require.True(t, moved)
			require.Equal(t, 1, ix.Len())
			got, err := ix.Nearest(Query{Lat: lat, Lng: lng, RadiusM: 100, Limit: 5, AvailableOnly: true})
			require.NoError(t, err)
			require.Empty(t, got)
			require.True(t, ix.SetState("a", true, 1))
		},
		q:    Query{Lat: lat, Lng: lng, RadiusM: 100, Limit: 5, AvailableOnly: true},
		want: []string{"a"},
	}, {
		name:    "Remove",
		drivers: []Driver{at("a", 0, 0), at("b", 0, 0)},
		do: func(t *testing.T, ix *Index) {
			require.True(t, ix.Remove("a"))
			require.False(t, ix.Remove("a"))
			require.Equal(t, 1, ix.Len())
		},
		q:    Query{Lat: lat, Lng: lng, RadiusM: 100, Limit: 5},
		want: []string{"b"},
	}, {
		name:    "Remove the last driver of a cell, then put one back",
		drivers: []Driver{at("a", 0, 0)},
		do: func(t *testing.T, ix *Index) {
			require.True(t, ix.Remove("a"))
			require.Equal(t, 0, ix.Len())
			require.NoError(t, ix.Upsert(at("a", 0, 0)))
		},
		q:    Query{Lat: lat, Lng: lng, RadiusM: 100, Limit: 5},
		want: []string{"a"},
	}, {
		name: "across the antimeridian",
		drivers: []Driver{
			{ID: "east", Lat: 0, Lng: 179.999}, {ID: "west", Lat: 0, Lng: -179.999},
			{ID: "wrapped", Lat: 0, Lng: 180.002}, {ID: "far", Lat: 0, Lng: 179.9},
		},
		q:    Query{Lat: 0, Lng: -180, RadiusM: 500, Limit: 5},
		want: []string{"east", "west", "wrapped"},
	}, {
		name: "at the north pole every longitude is near",
		drivers: []Driver{
			{ID: "a", Lat: 89.999, Lng: -170}, {ID: "b", Lat: 89.998, Lng: 10},
			{ID: "c", Lat: 89.997, Lng: 100}, {ID: "d", Lat: 89.9, Lng: 0},
		},
		q:    Query{Lat: 90, Lng: 0, RadiusM: 1000, Limit: 5},
		want: []string{"a", "b", "c"},
	}, {
		name: "near the south pole, on the far side of it",
		drivers: []Driver{
			{ID: "across", Lat: -89.999, Lng: 180 - 45}, // 222 m, through the pole
			{ID: "same-side", Lat: -89.99, Lng: -45},    // 1 km
		},
		q:    Query{Lat: -89.999, Lng: -45, RadiusM: 1500, Limit: 5},
		want: []string{"across", "same-side"},
	}, {
		name: "a degree of longitude shrinks with latitude",
		drivers: []Driver{
			{ID: "equator", Lat: 0, Lng: 0.01}, // 1.1 km from (0, 0)
			{ID: "north", Lat: 60, Lng: 0.01},  // 0.56 km from (60, 0)
		},
		q:    Query{Lat: 60, Lng: 0, RadiusM: 600, Limit: 5},
		want: []string{"north"},
	}, {
		name:    "a radius wider than the Earth finds everyone, nearest first",
		drivers: []Driver{{ID: "antipode", Lat: -52.52, Lng: -166.6}, at("here", 0, 0), {ID: "eq", Lat: 0, Lng: 0}},
		q:       Query{Lat: lat, Lng: lng, RadiusM: 1e9, Limit: 5},
		want:    []string{"here", "eq", "antipode"},
	}}
	for _, impl := range impls {
		for _, tc := range cases {
			t.Run(impl.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				ix := impl.new()
				for _, d := range tc.drivers {
					require.NoError(t, ix.Upsert(d))
				}
				if tc.do != nil {
					tc.do(t, ix)
				}
				got, err := ix.Nearest(tc.q)
				require.NoError(t, err)
				require.Equal(t, tc.want, ids(got))
			})
		}
	}
}

// TestDedupe: the last guard against a driver removed and added again
// while a query ran, seen under both of its slots. The first of each ID
// stays.
func TestDedupe(t *testing.T) {
	t.Parallel()
	hits := func(ids []string) []Hit {
		var out []Hit
		for i, id := range ids {
			out = append(out, Hit{ID: id, DistanceM: float64(i)})
		}
		return out
	}
	var many, manyOnce []string // past the quadratic scan's 64
	for i := range 100 {
		many = append(many, fmt.Sprint(i), fmt.Sprint(i))
		manyOnce = append(manyOnce, fmt.Sprint(i))
	}
	for _, tc := range []struct{ in, want []string }{
		{nil, []string{}},
		{[]string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{[]string{"a", "b", "a", "c", "b"}, []string{"a", "b", "c"}},
		{many, manyOnce},
	} {
		require.Equal(t, tc.want, ids(dedupe(hits(tc.in))))
	}
}

package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/wire"
)

func TestTrackingTokens(t *testing.T) {
	t.Parallel()
	key := trackingKey([]byte("a-jwt-secret-of-at-least-32-bytes-0123456789"))
	other := trackingKey([]byte("another-jwt-secret-of-32-bytes-or-more-98765"))
	const id = "ord_01M94F0P0ZKM33JBTQCZRZTGSF"
	tok := trackingToken(key, id)
	require.True(t, strings.HasPrefix(tok, id+"."))
	require.Len(t, tok, len(id)+1+22, "128 bits of tag, base64url")
	got, ok := trackedOrder(key, tok)
	require.True(t, ok)
	require.Equal(t, id, got)
	require.Equal(t, tok, trackingToken(key, id), "the same link every time")

	tag := tok[len(id)+1:]
	flipped := []byte(tag)
	flipped[0] ^= 1
	for name, bad := range map[string]string{
		"another secret's":        trackingToken(other, id),
		"another order's tag":     id + "." + trackingTag(key, "ord_01M94F0P0ZKM33JBTQCZRZTGSG"),
		"a flipped bit":           id + "." + string(flipped),
		"no tag":                  id,
		"an empty tag":            id + ".",
		"a short tag":             id + "." + tag[:21],
		"not an order":            "usr_01M94F0P0ZKM33JBTQCZRZTGSF." + trackingTag(key, "usr_01M94F0P0ZKM33JBTQCZRZTGSF"),
		"a malformed id":          "ord_x." + trackingTag(key, "ord_x"),
		"empty":                   "",
		"a tag with a second dot": tok + ".x",
	} {
		_, ok := trackedOrder(key, bad)
		require.False(t, ok, name)
	}
}

func TestEstimateArrival(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	// Pickup at the driver, dropoff ~1,112 m north (0.01° of latitude).
	row := actors.OrderRow{Status: order.InTransit,
		Pickup:  wire.Place{Address: "a", Lat: f(52.50), Lng: f(13.40)},
		Dropoff: wire.Place{Address: "b", Lat: f(52.51), Lng: f(13.40)}}
	eta := estimateArrival(row, 52.50, 13.40, now, 8)
	require.NotNil(t, eta)
	require.InDelta(t, 1112*trackingDetour, eta.DistanceM, 2)
	require.InDelta(t, 1112*trackingDetour/8, float64(eta.Seconds), 1)
	require.Equal(t, wire.Timestamp(now.Add(time.Duration(eta.Seconds)*time.Second)), eta.At)

	// Accepted: through the pickup first (driver 0.01° south of it).
	row.Status = order.Accepted
	eta = estimateArrival(row, 52.49, 13.40, now, 8)
	require.InDelta(t, 2*1112*trackingDetour, eta.DistanceM, 4)

	// No coordinates, no estimate.
	row.Pickup.Lat = nil
	require.Nil(t, estimateArrival(row, 52.49, 13.40, now, 8), "accepted, the pickup unplaced")
	row.Status = order.PickedUp
	require.NotNil(t, estimateArrival(row, 52.49, 13.40, now, 8), "picked up: the pickup no longer matters")
	row.Dropoff.Lng = nil
	require.Nil(t, estimateArrival(row, 52.49, 13.40, now, 8))
}

func TestFirstName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Ana Lima": "Ana", "  Bo ": "Bo", "": "", "Cher": "Cher"} {
		require.Equal(t, want, firstName(in), in)
	}
}

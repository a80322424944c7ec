package wire_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/wire"
)

// The bodies, like the subjects, are the protocol between releases: this
// pins each one's JSON byte for byte.
func TestMessages(t *testing.T) {
	t.Parallel()
	heading, lat, lng, driver, expires, dist := 90.5, 52.5, 13.4, "d1", "2026-01-02T03:04:50.006Z", 812.0
	for name, tc := range map[string]struct {
		msg  any
		want string
	}{
		"order event": {wire.OrderEvent{ID: "order:o1:2", Type: "order.assigned", OrderID: "o1", Seq: 2,
			At: "2026-01-02T03:04:05.006Z", By: wire.By{UserID: "u1", Role: "admin"}, Order: wire.Order{
				ID: "o1", CustomerID: "c1", DriverID: &driver, Pickup: wire.Place{Address: "A", Lat: &lat, Lng: &lng},
				Dropoff: wire.Place{Address: "B"}, DeliveryOption: "standard", PaymentStatus: "pending",
				Status: "assigned", Version: 2, OfferExpiresAt: &expires, CreatedAt: "2026-01-02T03:04:05.000Z", UpdatedAt: "2026-01-02T03:04:05.006Z"}},
			`{"id":"order:o1:2","type":"order.assigned","order_id":"o1","seq":2,"at":"2026-01-02T03:04:05.006Z",` +
				`"by":{"user_id":"u1","role":"admin"},"order":{"id":"o1","customer_id":"c1","driver_id":"d1",` +
				`"pickup":{"address":"A","lat":52.5,"lng":13.4},"dropoff":{"address":"B"},"delivery_option":"standard",` +
				`"scheduled_for":null,"payment_status":"pending","status":"assigned","notes":"","version":2,` +
				`"offer_expires_at":"2026-01-02T03:04:50.006Z",` +
				`"created_at":"2026-01-02T03:04:05.000Z","updated_at":"2026-01-02T03:04:05.006Z"}}`},
		"job offered": {wire.Job{ID: wire.JobEventID("o1", 2), Event: wire.JobOffered, DriverID: "d1", OrderID: "o1", OfferID: wire.OfferID("o1", 2),
			ExpiresAt: expires, Pickup: &wire.Place{Address: "A", Lat: &lat, Lng: &lng}, Dropoff: &wire.Place{Address: "B"},
			DistanceM: &dist, At: "2026-01-02T03:04:05.006Z"},
			`{"id":"job:o1:2","event":"job.offered","driver_id":"d1","order_id":"o1","offer_id":"o1.2","expires_at":"2026-01-02T03:04:50.006Z",` +
				`"pickup":{"address":"A","lat":52.5,"lng":13.4},"dropoff":{"address":"B"},"distance_m":812,"at":"2026-01-02T03:04:05.006Z"}`},
		"job withdrawn": {wire.Job{ID: wire.JobEventID("o1", 5), Event: wire.JobWithdrawn, DriverID: "d1", OrderID: "o1", OfferID: "o1.2", Reason: "expired",
			At: "2026-01-02T03:04:50.100Z"},
			`{"id":"job:o1:5","event":"job.withdrawn","driver_id":"d1","order_id":"o1","offer_id":"o1.2","reason":"expired","at":"2026-01-02T03:04:50.100Z"}`},
		"fix": {wire.Fix{DriverID: "d1", Position: wire.Position{Lat: 1.5, Lng: -2, Heading: &heading}, TsMs: 1700000000000},
			`{"driver_id":"d1","lat":1.5,"lng":-2,"heading":90.5,"ts_ms":1700000000000}`},
		"push": {wire.InboxMessage{Op: wire.OpPush, UserID: "u1", SessionIDs: []string{"s1"}, Frame: []byte(`{}`)},
			`{"op":"push","user_id":"u1","session_ids":["s1"],"frame":"e30="}`},
		"revoke": {wire.InboxMessage{Op: wire.OpRevoke, UserID: "u1", SessionIDs: []string{"s1", "s2"}, Reason: "logged out"},
			`{"op":"revoke","user_id":"u1","session_ids":["s1","s2"],"reason":"logged out"}`},
	} {
		b, err := json.Marshal(tc.msg)
		require.NoError(t, err, name)
		require.JSONEq(t, tc.want, string(b), name)
		require.Equal(t, tc.want, string(b), name)
	}
}

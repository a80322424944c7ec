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
	heading := 90.5
	for name, tc := range map[string]struct {
		msg  any
		want string
	}{
		"order event": {wire.OrderEvent[json.RawMessage]{ID: "order:o1:2", Type: "order.assigned", OrderID: "o1", Seq: 2,
			At: "2026-01-02T03:04:05.006Z", By: wire.By{UserID: "u1", Role: "admin"}, Order: json.RawMessage(`{"id":"o1"}`)},
			`{"id":"order:o1:2","type":"order.assigned","order_id":"o1","seq":2,"at":"2026-01-02T03:04:05.006Z",` +
				`"by":{"user_id":"u1","role":"admin"},"order":{"id":"o1"}}`},
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

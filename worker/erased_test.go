package worker_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/wire"
	"github.com/outrider/outrider/worker"
)

// TestLateEventOfAnErasedCustomer (issue #14): an order.assigned event
// consumed after its customer was erased (the order redacted) makes the
// driver's notification of the order's places as they are now, not as
// the event on the stream still carries them.
func TestLateEventOfAnErasedCustomer(t *testing.T) {
	r := newRig(t, worker.Config{})
	at := time.Now().UTC().Truncate(time.Millisecond)
	require.NoError(t, r.store.Commit(t.Context(), actors.Commit{Orders: []actors.OrderRow{{
		ID: "o-er", CustomerID: "c1", DriverID: "d1",
		Pickup: actors.Place{Address: order.ErasedAddress}, Dropoff: actors.Place{Address: order.ErasedAddress},
		DeliveryOption: "standard", PaymentStatus: "unpaid", Status: "assigned", Version: 3, CreatedAt: at, UpdatedAt: at,
	}}}))
	ev, err := json.Marshal(order.Published{ID: order.EventID("o-er", 2), Type: "order.assigned", OrderID: "o-er", Seq: 2,
		At: wire.Timestamp(at), By: wire.By{UserID: "a1", Role: "admin"},
		Order: wire.Order{ID: "o-er", CustomerID: "c1", DriverID: ptr("d1"), Status: "assigned",
			Pickup: wire.Place{Address: "17 Quagmire Lane"}, Dropoff: wire.Place{Address: "3 Plugh Court"}}})
	require.NoError(t, err)
	r.publish(t, "o-er", ev)

	var got []persistence.Notification
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, _, err = r.store.ListNotifications(t.Context(), persistenceFilter("d1"))
		assert.NoError(c, err)
		assert.Len(c, got, 1)
	}, 15*time.Second, 50*time.Millisecond)
	msg := string(got[0].Payload)
	require.False(t, strings.Contains(msg, "Quagmire") || strings.Contains(msg, "Plugh"), "the erased addresses came back: %s", msg)
	require.Contains(t, msg, order.ErasedAddress)
}

func ptr[T any](v T) *T { return &v }

package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/worker/webhook/webhooktest"
)

// TestPayment (issue #14): PUT /v1/orders/:id/payment records a payment
// and a refund as order events — on the order, in its timeline, to the
// webhooks — and refuses every other move.
func TestPayment(t *testing.T) {
	_, a := e2e.Up(t, nil)
	rcv := webhooktest.Start(t)
	var hook webhookJSON
	a.Admin.Post(t, "/v1/webhooks", map[string]any{"url": rcv.URL, "event_types": []string{"order.payment_changed"}}).
		Decode(t, http.StatusCreated, &hook)
	rcv.SetSecret(hook.Secret, false)

	customer := a.Signup(t)
	o := customer.CreateOrder(t)
	require.Equal(t, "unpaid", o.PaymentStatus)
	pay := func(as *e2e.Caller, status string) *e2e.Response {
		return as.Put(t, "/v1/orders/"+o.ID+"/payment", map[string]string{"status": status, "reference": "pi_" + status})
	}
	pay(a.Admin, "refunded").Problem(t, http.StatusConflict, "invalid_transition")
	pay(customer, "paid").Problem(t, http.StatusForbidden, "forbidden")
	a.Admin.Put(t, "/v1/orders/"+o.ID+"/payment", map[string]string{"status": "unpaid"}, e2e.InvalidRequest()).
		Problem(t, http.StatusUnprocessableEntity, "validation_failed")

	var got struct {
		PaymentStatus string `json:"payment_status"`
		Status        string `json:"status"`
	}
	pay(a.Admin, "paid").Decode(t, http.StatusOK, &got)
	require.Equal(t, "paid", got.PaymentStatus)
	require.Equal(t, "pending", got.Status)
	pay(a.Admin, "paid").Problem(t, http.StatusConflict, "invalid_transition")
	customer.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "cancelled"}).RequireStatus(t, http.StatusOK)
	pay(a.Admin, "refunded").Decode(t, http.StatusOK, &got)
	require.Equal(t, "refunded", got.PaymentStatus)
	require.Equal(t, "refunded", customer.Order(t, o.ID).PaymentStatus, "the customer sees it")

	var moves []string
	for _, e := range a.Admin.Timeline(t, o.ID) {
		if e.Metadata["event"] == "order.payment_changed" {
			moves = append(moves, e.Metadata["from"]+"→"+e.Metadata["to"]+" "+e.Metadata["reference"])
		}
	}
	require.Equal(t, []string{"unpaid→paid pi_paid", "paid→refunded pi_refunded"}, moves)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, bad := rcv.Delivered()
		assert.Zero(c, bad)
		assert.Equal(c, map[string]int{"order:" + o.ID + ":2": 1, "order:" + o.ID + ":4": 1}, got)
	}, 15*time.Second, 100*time.Millisecond)
}

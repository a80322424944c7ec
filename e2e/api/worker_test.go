package api_test

import (
	"image/jpeg"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
	"github.com/outrider/outrider/worker/email"
	"github.com/outrider/outrider/worker/email/mailtest"
	"github.com/outrider/outrider/worker/webhook/webhooktest"
)

type notificationJSON struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	EventID string `json:"event_id"`
	Payload struct {
		OrderID string `json:"order_id"`
		Seq     int64  `json:"seq"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"payload"`
	Read      bool    `json:"read"`
	ReadAt    *string `json:"read_at"`
	CreatedAt string  `json:"created_at"`
}

// notifications pages through c's notifications (query: "&unread=true"
// or empty), two at a time.
func notifications(t *testing.T, c *e2e.Caller, query string) []notificationJSON {
	t.Helper()
	var all []notificationJSON
	path := "/v1/notifications?limit=2" + query
	for {
		var p wire.Page[notificationJSON]
		c.Get(t, path).Decode(t, http.StatusOK, &p)
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			return all
		}
		path = "/v1/notifications?limit=2" + query + "&cursor=" + *p.NextCursor
	}
}

// dialUser opens the user's WebSocket (subscribed to user:{id} from the start).
func dialUser(t *testing.T, n *app.Node, c *e2e.Caller) *websocket.Conn {
	t.Helper()
	conn, err := e2e.DialRaw(n.Addr(), c.Token)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestNotifications: the worker tells the customer and the driver of
// their order's events, once each, live and in their inbox; each sees
// and marks only their own.
func TestNotifications(t *testing.T) {
	box := mailtest.Start(t, mailtest.Options{})
	n, a := e2e.Up(t, func(c *app.Config) {
		c.SMTP = email.Config{Addr: box.Addr, From: "Outrider <dispatch@outrider.test>", StartTLS: email.StartTLSNone}
	})
	customer, driver := a.Signup(t), a.CreateDriver(t, 0, true)
	live := dialUser(t, n, customer)

	o := customer.CreateOrder(t)
	a.Admin.OrderAction(t, o.ID, "assign", map[string]string{"driver_id": driver.User.ID})
	driver.OrderAction(t, o.ID, "accept", nil)
	for _, st := range []string{"picked_up", "in_transit", "delivered"} {
		driver.SetStatus(t, o.ID, st)
	}

	// assigned, accepted, picked_up, in_transit, delivered; not
	// order.created, which the customer did themselves.
	wantCustomer := []string{"delivered", "in_transit", "picked_up", "accepted", "assigned"}
	var got []notificationJSON
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got = notifications(t, customer, "")
		assert.Len(c, got, len(wantCustomer))
	}, 15*time.Second, 100*time.Millisecond)
	for i, n := range got {
		require.Equal(t, o.ID, n.Payload.OrderID)
		require.Equal(t, wantCustomer[i], n.Payload.Status, "newest first")
		require.NotEmpty(t, n.Payload.Message)
		require.False(t, n.Read)
	}
	seen := map[string]bool{}
	for _, n := range got {
		require.False(t, seen[n.EventID], "one notification per event")
		seen[n.EventID] = true
	}

	// The driver heard of the assignment (their own moves tell them nothing).
	var driverGot []notificationJSON
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		driverGot = notifications(t, driver, "")
		assert.Len(c, driverGot, 1)
	}, 15*time.Second, 100*time.Millisecond)
	require.Equal(t, "order.assigned", driverGot[0].Type)

	// Each notification was pushed on user:{id}.
	pushed := map[string]bool{}
	require.NoError(t, live.SetReadDeadline(time.Now().Add(15*time.Second)))
	for len(pushed) < len(wantCustomer) {
		var f struct {
			Type, Channel, Event string
			Data                 notificationJSON
		}
		require.NoError(t, live.ReadJSON(&f))
		if f.Type == "event" && f.Event == "notification.created" {
			require.Equal(t, "user:"+customer.User.ID, f.Channel)
			pushed[f.Data.ID] = true
		}
	}
	for _, n := range got {
		require.True(t, pushed[n.ID], "pushed %s", n.ID)
	}

	// Marking: one, then the rest; another user cannot touch them.
	driver.Post(t, "/v1/notifications/"+got[0].ID+"/read", nil).Problem(t, http.StatusNotFound, "not_found")
	customer.Post(t, "/v1/notifications/"+got[0].ID+"/read", nil).RequireStatus(t, http.StatusNoContent)
	require.Len(t, notifications(t, customer, "&unread=true"), len(wantCustomer)-1)
	var all struct{ Marked int }
	customer.Post(t, "/v1/notifications/read-all", nil).Decode(t, http.StatusOK, &all)
	require.Equal(t, len(wantCustomer)-1, all.Marked)
	require.Empty(t, notifications(t, customer, "&unread=true"))
	require.Len(t, notifications(t, driver, "&unread=true"), 1, "the driver's are untouched")
	customer.Get(t, "/v1/notifications?unread=maybe", e2e.InvalidRequest()).Problem(t, http.StatusUnprocessableEntity, "validation_failed")

	// E-mail: the driver of the new job; the customer of pick-up and
	// delivery. Once each.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, box.Messages(), 3)
	}, 15*time.Second, 100*time.Millisecond)
	subjects := map[string]string{}
	for _, m := range box.Messages() {
		require.Len(t, m.To, 1)
		msg, err := m.Parse()
		require.NoError(t, err)
		subjects[msg.Header.Get("Subject")] = m.To[0]
		require.NotEmpty(t, msg.Header.Get("Message-Id"))
	}
	require.Equal(t, map[string]string{
		"New job: Alexanderplatz 1, Berlin → Unter den Linden 5, Berlin": driver.User.Email,
		"Your order has been picked up":                                  customer.User.Email,
		"Your order has been delivered":                                  customer.User.Email,
	}, decodeSubjects(t, subjects))
}

// decodeSubjects decodes RFC 2047 encoded words in the keys.
func decodeSubjects(t *testing.T, in map[string]string) map[string]string {
	out := map[string]string{}
	dec := new(mime.WordDecoder)
	for k, v := range in {
		s, err := dec.DecodeHeader(k)
		require.NoError(t, err)
		out[s] = v
	}
	return out
}

type webhookJSON struct {
	ID                  string   `json:"id"`
	URL                 string   `json:"url"`
	EventTypes          []string `json:"event_types"`
	Enabled             bool     `json:"enabled"`
	ConsecutiveFailures int      `json:"consecutive_failures"`
	DisabledReason      *string  `json:"disabled_reason"`
	Secret              string   `json:"secret"`
}

// TestWebhooks: signed deliveries reach a verifying receiver; a receiver
// that keeps failing is disabled, and re-enabled by the API.
func TestWebhooks(t *testing.T) {
	_, a := e2e.Up(t, func(c *app.Config) { c.Worker.WebhookFailureLimit = 3 })
	rcv := webhooktest.Start(t)

	var hook webhookJSON
	a.Admin.Post(t, "/v1/webhooks", map[string]any{"url": rcv.URL, "event_types": []string{"order.created", "order.assigned"},
		"description": "test receiver"}).Decode(t, http.StatusCreated, &hook)
	require.True(t, strings.HasPrefix(hook.Secret, "whsec_"), hook.Secret)
	rcv.SetSecret(hook.Secret, false)
	var again webhookJSON
	a.Admin.Get(t, "/v1/webhooks/"+hook.ID).Decode(t, http.StatusOK, &again)
	require.Empty(t, again.Secret, "the secret is shown once")

	customer, driver := a.Signup(t), a.CreateDriver(t, 0, true)
	o := customer.CreateOrder(t)
	a.Admin.OrderAction(t, o.ID, "assign", map[string]string{"driver_id": driver.User.ID})
	driver.OrderAction(t, o.ID, "accept", nil) // not subscribed: not delivered
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, bad := rcv.Delivered()
		assert.Zero(c, bad)
		assert.Equal(c, map[string]int{"order:" + o.ID + ":1": 1, "order:" + o.ID + ":2": 1}, got)
	}, 15*time.Second, 100*time.Millisecond)

	// Three failures in a row disable the endpoint.
	rcv.SetSecret(hook.Secret, true)
	o2 := customer.CreateOrder(t)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var h webhookJSON
		a.Admin.Get(t, "/v1/webhooks/"+hook.ID).Decode(t, http.StatusOK, &h)
		assert.False(c, h.Enabled)
		assert.Equal(c, 3, h.ConsecutiveFailures)
		assert.NotNil(c, h.DisabledReason)
	}, 20*time.Second, 100*time.Millisecond)
	var atts struct {
		Items []struct {
			EventID    string `json:"event_id"`
			Success    bool   `json:"success"`
			StatusCode *int   `json:"status_code"`
			Attempt    int    `json:"attempt"`
		} `json:"items"`
	}
	a.Admin.Get(t, "/v1/webhooks/"+hook.ID+"/deliveries?limit=3").Decode(t, http.StatusOK, &atts)
	require.Len(t, atts.Items, 3)
	for _, a := range atts.Items {
		require.False(t, a.Success)
		require.Equal(t, http.StatusServiceUnavailable, *a.StatusCode)
		require.Equal(t, "order:"+o2.ID+":1", a.EventID)
	}

	// Re-enabled, it receives new events again.
	rcv.SetSecret(hook.Secret, false)
	var h webhookJSON
	a.Admin.Do(t, http.MethodPatch, "/v1/webhooks/"+hook.ID, map[string]any{"enabled": true}).Decode(t, http.StatusOK, &h)
	require.True(t, h.Enabled)
	require.Zero(t, h.ConsecutiveFailures)
	require.Nil(t, h.DisabledReason)
	o3 := customer.CreateOrder(t)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, _ := rcv.Delivered()
		assert.Equal(c, 1, got["order:"+o3.ID+":1"])
	}, 15*time.Second, 100*time.Millisecond)

	// Validation and deletion.
	for _, body := range []map[string]any{
		{"url": "ftp://example.test", "event_types": []string{"*"}},
		{"url": "https://example.test", "event_types": []string{"order.teleported"}},
		{"url": "https://example.test", "event_types": []string{}},
	} {
		a.Admin.Post(t, "/v1/webhooks", body, e2e.InvalidRequest()).Problem(t, http.StatusUnprocessableEntity, "validation_failed")
	}
	a.Admin.Do(t, http.MethodDelete, "/v1/webhooks/"+hook.ID, nil).RequireStatus(t, http.StatusNoContent)
	a.Admin.Get(t, "/v1/webhooks/"+hook.ID).Problem(t, http.StatusNotFound, "not_found")
}

// TestProofThumbnails: the worker makes a JPEG thumbnail of a recorded
// proof, listed with its own download URL.
func TestProofThumbnails(t *testing.T) {
	_, a := e2e.Up(t, nil)
	img := testPNG(t, 640, 480)
	fx := newProofFixture(t, a, "standard")
	p := fx.presign(t, "image/png", len(img))
	require.Contains(t, []int{200, 201, 204}, send(t, p, img, nil))
	fx.record(t, p.Key).RequireStatus(t, http.StatusCreated)

	var thumb string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var list struct{ Items []proofJSON }
		fx.customer.Get(t, "/v1/orders/"+fx.order.ID+"/proofs").Decode(t, http.StatusOK, &list)
		if assert.Len(c, list.Items, 1) && assert.NotNil(c, list.Items[0].ThumbnailURL) {
			thumb = *list.Items[0].ThumbnailURL
		}
	}, 15*time.Second, 100*time.Millisecond)
	status, body := download(t, thumb)
	require.Equal(t, http.StatusOK, status)
	cfg, err := jpeg.DecodeConfig(strings.NewReader(string(body)))
	require.NoError(t, err)
	require.Equal(t, 320, cfg.Width)
	require.Equal(t, 240, cfg.Height)
}

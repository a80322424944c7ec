package httpapi_test

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
	"github.com/outrider/outrider/worker/email"
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

type notificationPage struct {
	Items      []notificationJSON `json:"items"`
	NextCursor *string            `json:"next_cursor"`
}

func (c *caller) notifications(t *testing.T, query string) []notificationJSON {
	t.Helper()
	var all []notificationJSON
	path := "/v1/notifications?limit=2" + query
	for {
		var p notificationPage
		c.get(t, path).decode(t, http.StatusOK, &p)
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			return all
		}
		path = "/v1/notifications?limit=2" + query + "&cursor=" + *p.NextCursor
	}
}

// dialUser opens the user's WebSocket (subscribed to user:{id} from the start).
func dialUser(t *testing.T, b *bundle, c *caller) *websocket.Conn {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + c.Token}}
	conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(b.base, "http")+"/v1/ws", h)
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestNotifications: the worker tells the customer and the driver of
// their order's events, once each, live and in their inbox; each sees
// and marks only their own.
func TestNotifications(t *testing.T) {
	box, smtpAddr := startMailbox(t)
	b := setup(t, func(c *app.Config) {
		c.SMTP = email.Config{Addr: smtpAddr, From: "Outrider <dispatch@outrider.test>", StartTLS: email.StartTLSNone}
	})
	customer, driver := b.signup(t), b.createDriver(t, 0, true)
	live := dialUser(t, b, customer)

	o := customer.createOrder(t)
	b.admin.orderAction(t, o.ID, "assign", map[string]string{"driver_id": driver.User.ID})
	driver.orderAction(t, o.ID, "accept", nil)
	for _, st := range []string{"picked_up", "in_transit", "delivered"} {
		driver.setStatus(t, o.ID, st)
	}

	// assigned, accepted, picked_up, in_transit, delivered; not
	// order.created, which the customer did themselves.
	wantCustomer := []string{"delivered", "in_transit", "picked_up", "accepted", "assigned"}
	var got []notificationJSON
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got = customer.notifications(t, "")
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
		driverGot = driver.notifications(t, "")
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
	driver.post(t, "/v1/notifications/"+got[0].ID+"/read", nil).problem(t, http.StatusNotFound, "not_found")
	customer.post(t, "/v1/notifications/"+got[0].ID+"/read", nil).requireStatus(t, http.StatusNoContent)
	require.Len(t, customer.notifications(t, "&unread=true"), len(wantCustomer)-1)
	var all struct{ Marked int }
	customer.post(t, "/v1/notifications/read-all", nil).decode(t, http.StatusOK, &all)
	require.Equal(t, len(wantCustomer)-1, all.Marked)
	require.Empty(t, customer.notifications(t, "&unread=true"))
	require.Len(t, driver.notifications(t, "&unread=true"), 1, "the driver's are untouched")
	customer.get(t, "/v1/notifications?unread=maybe", invalidReq()).problem(t, http.StatusUnprocessableEntity, "validation_failed")

	// E-mail: the driver of the new job; the customer of pick-up and
	// delivery. Once each.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		msgs, _ := box.received()
		assert.Len(c, msgs, 3)
	}, 15*time.Second, 100*time.Millisecond)
	msgs, rcpts := box.received()
	subjects := map[string]string{}
	for i, m := range msgs {
		require.Len(t, rcpts[i], 1)
		subjects[m.Header.Get("Subject")] = rcpts[i][0]
		require.NotEmpty(t, m.Header.Get("Message-Id"))
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
	b := setup(t, func(c *app.Config) { c.Worker.WebhookFailureLimit = 3 })
	rcv := webhooktest.Start(t)

	var hook webhookJSON
	b.admin.post(t, "/v1/webhooks", map[string]any{"url": rcv.URL, "event_types": []string{"order.created", "order.assigned"},
		"description": "test receiver"}).decode(t, http.StatusCreated, &hook)
	require.True(t, strings.HasPrefix(hook.Secret, "whsec_"), hook.Secret)
	rcv.SetSecret(hook.Secret, false)
	var again webhookJSON
	b.admin.get(t, "/v1/webhooks/"+hook.ID).decode(t, http.StatusOK, &again)
	require.Empty(t, again.Secret, "the secret is shown once")

	customer, driver := b.signup(t), b.createDriver(t, 0, true)
	o := customer.createOrder(t)
	b.admin.orderAction(t, o.ID, "assign", map[string]string{"driver_id": driver.User.ID})
	driver.orderAction(t, o.ID, "accept", nil) // not subscribed: not delivered
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, bad := rcv.Delivered()
		assert.Zero(c, bad)
		assert.Equal(c, map[string]int{"order:" + o.ID + ":1": 1, "order:" + o.ID + ":2": 1}, got)
	}, 15*time.Second, 100*time.Millisecond)

	// Three failures in a row disable the endpoint.
	rcv.SetSecret(hook.Secret, true)
	o2 := customer.createOrder(t)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var h webhookJSON
		b.admin.get(t, "/v1/webhooks/"+hook.ID).decode(t, http.StatusOK, &h)
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
	b.admin.get(t, "/v1/webhooks/"+hook.ID+"/deliveries?limit=3").decode(t, http.StatusOK, &atts)
	require.Len(t, atts.Items, 3)
	for _, a := range atts.Items {
		require.False(t, a.Success)
		require.Equal(t, http.StatusServiceUnavailable, *a.StatusCode)
		require.Equal(t, "order:"+o2.ID+":1", a.EventID)
	}

	// Re-enabled, it receives new events again.
	rcv.SetSecret(hook.Secret, false)
	var h webhookJSON
	b.admin.do(t, http.MethodPatch, "/v1/webhooks/"+hook.ID, map[string]any{"enabled": true}).decode(t, http.StatusOK, &h)
	require.True(t, h.Enabled)
	require.Zero(t, h.ConsecutiveFailures)
	require.Nil(t, h.DisabledReason)
	o3 := customer.createOrder(t)
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
		b.admin.post(t, "/v1/webhooks", body, invalidReq()).problem(t, http.StatusUnprocessableEntity, "validation_failed")
	}
	b.admin.do(t, http.MethodDelete, "/v1/webhooks/"+hook.ID, nil).requireStatus(t, http.StatusNoContent)
	b.admin.get(t, "/v1/webhooks/"+hook.ID).problem(t, http.StatusNotFound, "not_found")
}

// TestProofThumbnails: the worker makes a JPEG thumbnail of a recorded
// proof, listed with its own download URL.
func TestProofThumbnails(t *testing.T) {
	b := setup(t, nil)
	img := testPNG(t, 640, 480)
	fx := newProofFixture(t, b, "standard")
	p := fx.presign(t, "image/png", len(img))
	require.Contains(t, []int{200, 201, 204}, send(t, p, img, nil))
	fx.record(t, p.Key).requireStatus(t, http.StatusCreated)

	var thumb string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var list struct{ Items []proofJSON }
		fx.customer.get(t, "/v1/orders/"+fx.order.ID+"/proofs").decode(t, http.StatusOK, &list)
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

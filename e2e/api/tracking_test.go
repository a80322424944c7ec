package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
)

// tracking is the answer of GET /v1/track/{token}.
type tracking struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
	Driver  *struct {
		Name     string
		Lat, Lng *float64
		At       *string
	} `json:"driver"`
	ETA *struct {
		At        string  `json:"at"`
		Seconds   int64   `json:"seconds"`
		DistanceM float64 `json:"distance_m"`
	} `json:"eta"`
	History []struct{ Status, At string } `json:"history"`
}

// TestTrackingLink: an order's customer (or an admin) gets a link that
// shows anyone holding it the order's progress, the driver's first name
// and position and an estimated arrival — nothing of the customer — and
// stops working a while after the order ended; a forged link shows
// nothing.
func TestTrackingLink(t *testing.T) {
	const ttl = 5 * time.Second
	n, a := e2e.Up(t, func(cfg *app.Config) {
		cfg.HTTP.TrackingLinkTTL = ttl
		cfg.Locations.FlushInterval = 50 * time.Millisecond
	})
	cust, other := a.Signup(t), a.Signup(t)
	drv := a.CreateDriver(t, 1, true)
	body := e2e.ValidOrder()
	body["dropoff"] = map[string]any{"address": "Unter den Linden 5, Berlin", "lat": 52.5170, "lng": 13.3889}
	body["notes"] = "the code is 4711"
	var o struct{ ID string }
	cust.Post(t, "/v1/orders", body).Decode(t, http.StatusCreated, &o)

	var link struct{ Token, Path string }
	cust.Get(t, "/v1/orders/"+o.ID+"/tracking-link").Decode(t, http.StatusOK, &link)
	require.Equal(t, "/v1/track/"+link.Token, link.Path)
	var again struct{ Token, Path string }
	a.Admin.Get(t, "/v1/orders/"+o.ID+"/tracking-link").Decode(t, http.StatusOK, &again)
	require.Equal(t, link, again, "one link per order, whoever asks")
	other.Get(t, "/v1/orders/"+o.ID+"/tracking-link").Problem(t, http.StatusNotFound, "not_found")
	a.Admin.Assign(t, o.ID, drv.ID())
	drv.Get(t, "/v1/orders/"+o.ID+"/tracking-link").Problem(t, http.StatusForbidden, "forbidden")

	anon := a.Anon()
	read := func() (tracking, string) {
		r := anon.Get(t, link.Path).RequireStatus(t, http.StatusOK)
		require.Equal(t, "no-store", r.Header.Get("Cache-Control"))
		var v tracking
		require.NoError(t, json.Unmarshal(r.Body, &v))
		return v, string(r.Body)
	}
	v, raw := read()
	require.Equal(t, o.ID, v.OrderID)
	require.Equal(t, "assigned", v.Status)
	require.Nil(t, v.Driver, "assigned: not his yet")
	require.Nil(t, v.ETA)
	require.Equal(t, []string{"pending", "assigned"}, statuses(v))
	for _, secret := range []string{cust.ID(), cust.User.Email, "4711", drv.ID(), drv.User.Email} {
		require.NotContains(t, raw, secret, "a tracking link shows nothing of the customer, nor the driver's id")
	}

	// Accepted, the driver on his way to the pickup: his first name, his
	// position, an arrival through the pickup.
	drv.OrderAction(t, o.ID, "accept", nil)
	ws := e2e.Dial(t, "driver", n.Addr(), drv.Token, nil)
	ws.Send(map[string]any{"type": "location", "lat": 52.5300, "lng": 13.4132, "ts": time.Now().UnixMilli()})
	e2e.Eventually(t, 10*time.Second, func() bool {
		v, raw = read()
		return v.Driver != nil && v.Driver.Lat != nil
	}, "the driver's position on the tracking link")
	require.Equal(t, strings.Fields(drv.User.Name)[0], v.Driver.Name)
	require.InDelta(t, 52.53, *v.Driver.Lat, 1e-9)
	require.NotNil(t, v.ETA)
	// ~898 m to the pickup, ~1,717 m on to the dropoff, ×1.3, at 8 m/s.
	require.InDelta(t, (898+1717)*1.3, v.ETA.DistanceM, 30)
	require.InDelta(t, (898+1717)*1.3/8, float64(v.ETA.Seconds), 5)
	require.NotContains(t, raw, drv.ID())

	// Forged or broken links show nothing, as an unknown one.
	for _, bad := range []string{
		o.ID + "." + strings.Repeat("A", 22),
		o.ID,
		link.Token[:len(link.Token)-1],
		e2e.NonexistentID("ord") + "." + link.Token[len(o.ID)+1:],
	} {
		anon.Get(t, "/v1/track/"+bad).Problem(t, http.StatusNotFound, "not_found")
	}

	// Delivered: the history, no driver; then, after the TTL, nothing.
	for _, st := range e2e.Lifecycle {
		drv.SetStatus(t, o.ID, st)
	}
	v, _ = read()
	require.Equal(t, "delivered", v.Status)
	require.Nil(t, v.Driver)
	require.Nil(t, v.ETA)
	require.Equal(t, []string{"pending", "assigned", "accepted", "picked_up", "in_transit", "delivered"}, statuses(v))
	e2e.Eventually(t, ttl+10*time.Second, func() bool {
		return anon.Get(t, link.Path).Status == http.StatusNotFound
	}, "the link to expire")
}

func statuses(v tracking) []string {
	var out []string
	for _, h := range v.History {
		out = append(out, h.Status)
	}
	return out
}

package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/dispatch/geo"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/wire"
)

// Tracking links: what an order's customer sends to whoever waits for the
// delivery. GET /v1/orders/:id/tracking-link (the order's customer, an
// admin) answers a token; GET /v1/track/:token answers, to anyone holding
// it, the order's status, its places, the driver's first name and newest
// position while he holds the order, an estimated arrival and the status
// history — nothing of the customer (name, e-mail, notes), nothing of the
// driver but his first name and where he is.
//
// A token is the order's id and an HMAC of it under a key derived from
// the node's JWT secret, so every node checks it without a lookup and
// rotating the secret revokes every link. It works while the order is
// open and for Config.TrackingLinkTTL after it ended (delivered,
// cancelled, failed); then it answers not_found, as a forged one does.

// trackingTagBytes is how much of the HMAC a token carries: 128 bits.
const trackingTagBytes = 16

// DefaultTrackingLinkTTL is how long a tracking link works after its
// order ended.
const DefaultTrackingLinkTTL = 24 * time.Hour

// DefaultTrackingSpeed is the average speed, in m/s, an estimated arrival
// assumes (29 km/h: city driving with stops).
const DefaultTrackingSpeed = 8.0

// trackingDetour stretches a straight line into a road distance.
const trackingDetour = 1.3

// trackingKey derives the tracking links' key from the JWT secret.
func trackingKey(jwtSecret []byte) []byte {
	m := hmac.New(sha256.New, jwtSecret)
	m.Write([]byte("outrider tracking link v1"))
	return m.Sum(nil)
}

func trackingTag(key []byte, orderID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(orderID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:trackingTagBytes])
}

// trackingToken is the tracking link token of orderID: "<id>.<tag>".
func trackingToken(key []byte, orderID string) string {
	return orderID + "." + trackingTag(key, orderID)
}

// trackedOrder is the order id of a genuine token, false otherwise.
func trackedOrder(key []byte, token string) (string, bool) {
	id, tag, ok := strings.Cut(token, ".")
	if !ok || !strings.HasPrefix(id, "ord_") || !idPattern.MatchString(id) {
		return "", false
	}
	return id, hmac.Equal([]byte(tag), []byte(trackingTag(key, id)))
}

// trackingLink answers GET /v1/orders/:id/tracking-link.
func (s *Server) trackingLink(w http.ResponseWriter, r *http.Request, c *call) error {
	row, err := s.visibleOrder(r, c)
	if err != nil {
		return err
	}
	if c.principal.Role == actors.RoleDriver {
		return errorf(problem.Forbidden, "the order's customer or an admin shares its tracking link")
	}
	token := trackingToken(s.trackingKey, row.ID)
	writeJSON(w, http.StatusOK, struct {
		Token string `json:"token"`
		Path  string `json:"path"`
	}{token, "/v1/track/" + token})
	return nil
}

// trackingView is the answer of GET /v1/track/:token.
type trackingView struct {
	OrderID   string           `json:"order_id"`
	Status    string           `json:"status"`
	Pickup    wire.Place       `json:"pickup"`
	Dropoff   wire.Place       `json:"dropoff"`
	Driver    *trackedDriver   `json:"driver"`
	ETA       *trackingETA     `json:"eta"`
	History   []trackingStatus `json:"history"`
	CreatedAt string           `json:"created_at"`
	UpdatedAt string           `json:"updated_at"`
}

type trackedDriver struct {
	Name string   `json:"name"`
	Lat  *float64 `json:"lat"`
	Lng  *float64 `json:"lng"`
	At   *string  `json:"at"`
}

type trackingETA struct {
	At        string  `json:"at"`
	Seconds   int64   `json:"seconds"`
	DistanceM float64 `json:"distance_m"`
}

type trackingStatus struct {
	Status string `json:"status"`
	At     string `json:"at"`
}

// trackByToken answers GET /v1/track/:token, to anyone holding the token.
func (s *Server) trackByToken(w http.ResponseWriter, r *http.Request, c *call) error {
	id, ok := trackedOrder(s.trackingKey, c.params.ByName("token"))
	if !ok {
		return errorf(problem.NotFound, "no such tracking link")
	}
	v, _, err := s.tracking(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, v)
	return nil
}

// tracking is order id as its tracking link shows it, read from the
// store, and the order's row; not_found once the link expired.
func (s *Server) tracking(ctx context.Context, id string) (trackingView, actors.OrderRow, error) {
	row, err := s.store.GetOrder(ctx, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return trackingView{}, row, errorf(problem.NotFound, "no such tracking link")
	}
	if err != nil {
		return trackingView{}, row, unavailable(err)
	}
	now := s.now()
	if ended(row.Status) && now.Sub(row.UpdatedAt) > s.cfg.TrackingLinkTTL {
		return trackingView{}, row, errorf(problem.NotFound, "this tracking link has expired: the order ended more than %s ago", s.cfg.TrackingLinkTTL)
	}
	entries, err := s.store.Timeline(ctx, row.ID)
	if err != nil {
		return trackingView{}, row, unavailable(err)
	}
	v := trackingView{OrderID: row.ID, Status: row.Status, Pickup: row.Pickup, Dropoff: row.Dropoff,
		History: []trackingStatus{}, CreatedAt: wire.Timestamp(row.CreatedAt), UpdatedAt: wire.Timestamp(row.UpdatedAt)}
	for _, e := range entries {
		if n := len(v.History); n == 0 || v.History[n-1].Status != e.Status {
			v.History = append(v.History, trackingStatus{e.Status, wire.Timestamp(e.At)})
		}
	}
	if row.DriverID != "" && onTheWay(row.Status) {
		d, err := s.store.GetDriver(ctx, row.DriverID)
		if err != nil && !errors.Is(err, persistence.ErrNotFound) {
			return trackingView{}, row, unavailable(err)
		}
		if err == nil {
			v.Driver = &trackedDriver{Name: firstName(d.Name)}
			if l := d.LastLocation; l != nil {
				v.placeDriver(row, l.Lat, l.Lng, l.At, now, s.cfg.TrackingSpeed)
			}
		}
	}
	return v, row, nil
}

// placeDriver puts v's driver at (lat, lng), where he was at at, and
// estimates the arrival from there.
func (v *trackingView) placeDriver(row actors.OrderRow, lat, lng float64, at, now time.Time, speed float64) {
	ts := wire.Timestamp(at)
	v.Driver.Lat, v.Driver.Lng, v.Driver.At = &lat, &lng, &ts
	v.ETA = estimateArrival(row, lat, lng, now, speed)
}

// onTheWay reports whether the order's driver has it in hand or is
// going for it: accepted, picked up or in transit (an offer may still be
// declined; a delivered order needs no driver on the map).
func onTheWay(status string) bool {
	return status == order.Accepted || status == order.PickedUp || status == order.InTransit
}

// ended reports whether an order in status will not move again.
func ended(status string) bool {
	return status == order.Delivered || status == order.Cancelled || status == order.Failed
}

// firstName is the first word of a name: all a tracking page shows of
// its driver.
func firstName(name string) string {
	if f := strings.Fields(name); len(f) > 0 {
		return f[0]
	}
	return ""
}

// estimateArrival is when a driver at (lat, lng) reaches the dropoff:
// through the pickup until he has picked the order up, the straight
// lines stretched by trackingDetour, at speed m/s. Nil when a place has
// no coordinates.
func estimateArrival(row actors.OrderRow, lat, lng float64, now time.Time, speed float64) *trackingETA {
	d := row.Dropoff
	if d.Lat == nil || d.Lng == nil || speed <= 0 {
		return nil
	}
	var m float64
	if row.Status == order.Accepted {
		p := row.Pickup
		if p.Lat == nil || p.Lng == nil {
			return nil
		}
		m = geo.DistanceM(lat, lng, *p.Lat, *p.Lng) + geo.DistanceM(*p.Lat, *p.Lng, *d.Lat, *d.Lng)
	} else {
		m = geo.DistanceM(lat, lng, *d.Lat, *d.Lng)
	}
	m *= trackingDetour
	secs := int64(m/speed + 0.5)
	return &trackingETA{At: wire.Timestamp(now.Add(time.Duration(secs) * time.Second)), Seconds: secs,
		DistanceM: float64(int64(m + 0.5))}
}

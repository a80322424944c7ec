package httpapi

import (
	"net/http"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/wire"
)

// maxTrackPoints bounds one trail answer: at the default 5 fixes a second
// it is over 16 minutes of driving at full rate, and hours at the rate
// phones usually report.
const maxTrackPoints = 5000

// track answers the location trail of the order's current (or last)
// driver, from their assignment until the order left them (delivered,
// cancelled, failed, declined) or now.
func (s *Server) track(w http.ResponseWriter, r *http.Request, c *call) error {
	row, err := s.visibleOrder(r, c)
	if err != nil {
		return err
	}
	entries, err := s.store.Timeline(r.Context(), row.ID)
	if err != nil {
		return unavailable(err)
	}
	driverID, from, to := trailWindow(entries, s.now())
	out := struct {
		OrderID  string            `json:"order_id"`
		DriverID *string           `json:"driver_id"`
		Items    []wire.TrackPoint `json:"items"`
	}{OrderID: row.ID, Items: []wire.TrackPoint{}}
	if driverID != "" {
		out.DriverID = &driverID
		fixes, err := s.store.Trail(r.Context(), driverID, from, to, maxTrackPoints)
		if err != nil {
			return unavailable(err)
		}
		for _, f := range fixes {
			out.Items = append(out.Items, wire.TrackPoint{Position: wire.Position{Lat: f.Lat, Lng: f.Lng,
				Heading: f.Heading, Speed: f.Speed, Accuracy: f.Accuracy}, At: wire.Timestamp(f.At)})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// trailWindow is the span of the trail GET /track answers: the order's
// last driver window (order.DriverWindows), to one second past now while
// the driver still holds the order; driverID is "" if it never had one.
// The store's Trail excludes to, so a closed window reaches one
// millisecond past the event that closed it.
func trailWindow(entries []actors.TimelineEntry, now time.Time) (driverID string, from, to time.Time) {
	ws := order.DriverWindows(entries)
	if len(ws) == 0 {
		return "", time.Time{}, now.Add(time.Second)
	}
	w := ws[len(ws)-1]
	if w.Open() {
		return w.DriverID, w.From, now.Add(time.Second)
	}
	return w.DriverID, w.From, w.Until.Add(time.Millisecond)
}

package order

import (
	"time"

	"github.com/outrider/outrider/actors"
)

// DriverWindow is a span in which one driver held the order: From its
// assignment until the order left them — declined, expired, unassigned
// (back to pending), or delivered, cancelled or failed — at Until, which is zero while they still hold it.
type DriverWindow struct {
	DriverID string
	From     time.Time
	Until    time.Time
}

// Open reports whether the driver still holds the order.
func (w DriverWindow) Open() bool { return w.Until.IsZero() }

// DriverWindows reads the spans in which drivers held the order from its
// timeline, oldest first, as Effects writes it (metadata "event" and
// "driver_id"; the line's status is the status after the event). GET
// /v1/orders/:id/track shows the trail of the last one. A window ends at
// the first event that takes the order from its driver; later lines
// (a proof recorded after delivery) do not move its end.
func DriverWindows(timeline []actors.TimelineEntry) []DriverWindow {
	var out []DriverWindow
	for _, e := range timeline {
		open := len(out) > 0 && out[len(out)-1].Open()
		switch ev := e.Metadata["event"]; {
		case ev == "order.assigned":
			out = append(out, DriverWindow{DriverID: e.Metadata["driver_id"], From: e.At})
		case open && (e.Status == Pending || ev == "order.status_changed" && Terminal(e.Status)):
			out[len(out)-1].Until = e.At
		}
	}
	return out
}

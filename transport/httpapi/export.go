package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/wire"
)

// Bounds of an export: far above what one account gathers in the
// retention windows, so that an export is whole in practice and bounded
// always (a truncated part says so).
const (
	exportMaxOrders        = 10_000
	exportMaxNotifications = 10_000
	exportMaxFixes         = 200_000
)

// userExport is GET /v1/users/:id/export: everything stored about a user
// that names or locates him.
type userExport struct {
	ExportedAt      string                     `json:"exported_at"`
	User            wire.User                  `json:"user"`
	Driver          *wire.Driver               `json:"driver"`
	Orders          []wire.Order               `json:"orders"`
	Notifications   []persistence.Notification `json:"notifications"`
	LocationHistory []wire.TrackPoint          `json:"location_history"`
	// Truncated names the parts cut at their bound.
	Truncated []string `json:"truncated"`
}

// exportUser serves GET /v1/users/:id/export: an admin's export of any
// user, or a user's of himself (":id" may be "me").
func (s *Server) exportUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id := c.params.ByName("id")
	if id == "me" {
		id = c.principal.UserID
	} else if _, err := c.id("usr"); err != nil {
		return err
	}
	if id != c.principal.UserID && c.principal.Role != actors.RoleAdmin {
		return errorf(problem.NotFound, "no such user %s", id) // others' accounts are not the caller's to know of
	}
	ctx := r.Context()
	u, err := s.store.GetUser(ctx, id)
	if errors.Is(err, persistence.ErrNotFound) || (err == nil && u.Erased) {
		return errorf(problem.NotFound, "no such user %s", id)
	}
	if err != nil {
		return unavailable(err)
	}
	now := s.now()
	out := userExport{ExportedAt: wire.Timestamp(now), User: userRowView(u.UserRow),
		Orders: []wire.Order{}, Notifications: []persistence.Notification{}, LocationHistory: []wire.TrackPoint{}, Truncated: []string{}}
	if u.Role == actors.RoleDriver {
		d, err := s.store.GetDriver(ctx, id)
		if err != nil && !errors.Is(err, persistence.ErrNotFound) {
			return unavailable(err)
		}
		if err == nil {
			v := driverView(d)
			out.Driver = &v
		}
		fixes, err := s.store.Trail(ctx, id, time.Unix(0, 0), now.Add(time.Minute), exportMaxFixes+1)
		if err != nil {
			return unavailable(err)
		}
		if len(fixes) > exportMaxFixes {
			fixes, out.Truncated = fixes[:exportMaxFixes], append(out.Truncated, "location_history")
		}
		for _, f := range fixes {
			out.LocationHistory = append(out.LocationHistory, wire.TrackPoint{Position: wire.Position{Lat: f.Lat, Lng: f.Lng,
				Heading: f.Heading, Speed: f.Speed, Accuracy: f.Accuracy}, At: wire.Timestamp(f.At)})
		}
	}
	for after := ""; ; {
		rows, more, err := s.store.ListOrders(ctx, persistence.OrderFilter{UserID: id, Limit: 100, After: after})
		if err != nil {
			return unavailable(err)
		}
		for _, o := range rows {
			out.Orders = append(out.Orders, o.Public())
		}
		if !more || len(rows) == 0 {
			break
		}
		if len(out.Orders) >= exportMaxOrders {
			out.Truncated = append(out.Truncated, "orders")
			break
		}
		after = rows[len(rows)-1].ID
	}
	for after := ""; ; {
		ns, more, err := s.store.ListNotifications(ctx, persistence.NotificationFilter{UserID: id, Limit: 100, After: after})
		if err != nil {
			return unavailable(err)
		}
		out.Notifications = append(out.Notifications, ns...)
		if !more || len(ns) == 0 {
			break
		}
		if len(out.Notifications) >= exportMaxNotifications {
			out.Truncated = append(out.Truncated, "notifications")
			break
		}
		after = ns[len(ns)-1].ID
	}
	w.Header().Set("Content-Disposition", `attachment; filename="outrider-export-`+id+`.json"`)
	writeJSON(w, http.StatusOK, out)
	return nil
}

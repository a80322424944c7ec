package httpapi

import (
	"errors"
	"net/http"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	"github.com/outrider/outrider/persistence"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

type locationJSON struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
	At  string  `json:"at"`
}

type driverJSON struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	Email        string        `json:"email"`
	Phone        *string       `json:"phone"`
	Status       string        `json:"status"`
	Available    bool          `json:"available"`
	Capacity     int           `json:"capacity"`
	ActiveOrders int           `json:"active_orders"`
	LastLocation *locationJSON `json:"last_location"`
	UpdatedAt    string        `json:"updated_at"`
}

func driverView(d persistence.Driver) driverJSON {
	j := driverJSON{ID: d.ID, Name: d.Name, Email: d.Email, Status: d.Status, Available: d.Available,
		Capacity: d.Capacity, ActiveOrders: d.ActiveOrders, UpdatedAt: actors.Timestamp(d.UpdatedAt)}
	if d.Phone != "" {
		j.Phone = &d.Phone
	}
	if d.LastLocation != nil {
		j.LastLocation = &locationJSON{Lat: d.LastLocation.Lat, Lng: d.LastLocation.Lng, At: actors.Timestamp(d.LastLocation.At)}
	}
	return j
}

// driverID resolves :id, where "me" is the calling driver. A driver may
// address only themselves; anyone else's id is not_found to them.
func (c *call) driverID() (string, error) {
	raw := c.params.ByName("id")
	if raw == "me" {
		if c.principal.Role != actors.RoleDriver {
			return "", errorf("not_found", "only drivers have a driver record of their own")
		}
		return c.principal.UserID, nil
	}
	id, err := c.id("usr")
	if err != nil {
		return "", err
	}
	if c.principal.Role == actors.RoleDriver && id != c.principal.UserID {
		return "", errorf("not_found", "no such driver %s", id)
	}
	return id, nil
}

func (s *Server) getDriver(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.driverID()
	if err != nil {
		return err
	}
	d, err := s.store.GetDriver(r.Context(), id)
	if errors.Is(err, persistence.ErrNotFound) {
		return errorf("not_found", "no such driver %s", id)
	}
	if err != nil {
		return unavailable(err)
	}
	writeJSON(w, http.StatusOK, driverView(d))
	return nil
}

func (s *Server) listDrivers(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, after, err := paging(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", driver.Offline, driver.Available, driver.Busy:
	default:
		return invalid(FieldError{"status", "must be offline, available or busy"})
	}
	ds, more, err := s.store.ListDrivers(r.Context(), persistence.DriverFilter{Status: status, Limit: limit, After: after})
	if err != nil {
		return unavailable(err)
	}
	out := page[driverJSON]{Items: make([]driverJSON, 0, len(ds))}
	for _, d := range ds {
		out.Items = append(out.Items, driverView(d))
	}
	if more && len(ds) > 0 {
		cur := encodeCursor(ds[len(ds)-1].ID)
		out.NextCursor = &cur
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) setAvailability(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.driverID()
	if err != nil {
		return err
	}
	var req struct {
		Available *bool `json:"available"`
	}
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if req.Available == nil {
		return invalid(FieldError{"available", "is required"})
	}
	reply, err := s.actors.Driver(r.Context(), id, &pb.DriverCommand{
		CommandId: c.commandID, By: &pb.Principal{UserId: c.principal.UserID, Role: c.principal.Role},
		AtMs: s.now().UnixMilli(),
		Body: &pb.DriverCommand_SetAvailability{SetAvailability: &pb.SetAvailability{Available: *req.Available}},
	})
	if err != nil {
		return unavailable(err)
	}
	if rej := reply.GetRejection(); rej != nil {
		return rejected(rej.Code, rej.Message)
	}
	d, err := s.store.GetDriver(r.Context(), id)
	if err != nil {
		return unavailable(err)
	}
	writeJSON(w, http.StatusOK, driverView(d))
	return nil
}

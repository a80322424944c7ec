package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/actors/user"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

func driverView(d persistence.Driver) wire.Driver {
	j := wire.Driver{ID: d.ID, Name: d.Name, Email: d.Email, Status: d.Status, Available: d.Available,
		Capacity: d.Capacity, ActiveOrders: d.ActiveOrders, UpdatedAt: wire.Timestamp(d.UpdatedAt)}
	if d.Phone != "" {
		j.Phone = &d.Phone
	}
	if d.LastLocation != nil {
		j.LastLocation = &wire.LastLocation{Lat: d.LastLocation.Lat, Lng: d.LastLocation.Lng, At: wire.Timestamp(d.LastLocation.At)}
	}
	return j
}

// driverID resolves :id, where "me" is the calling driver. A driver may
// address only themselves; anyone else's id is not_found to them.
func (c *call) driverID() (string, error) {
	raw := c.params.ByName("id")
	if raw == "me" {
		if c.principal.Role != actors.RoleDriver {
			return "", errorf(problem.NotFound, "only drivers have a driver record of their own")
		}
		return c.principal.UserID, nil
	}
	id, err := c.id("usr")
	if err != nil {
		return "", err
	}
	if c.principal.Role == actors.RoleDriver && id != c.principal.UserID {
		return "", errorf(problem.NotFound, "no such driver %s", id)
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
		return errorf(problem.NotFound, "no such driver %s", id)
	}
	if err != nil {
		return unavailable(err)
	}
	return s.writeDriver(w, r, d)
}

// writeDriver answers with d and its presence.
func (s *Server) writeDriver(w http.ResponseWriter, r *http.Request, d persistence.Driver) error {
	v := driverView(d)
	online, err := s.presence(r.Context(), []string{d.ID})
	if err != nil {
		return err
	}
	v.Online = online[d.ID]
	writeJSON(w, http.StatusOK, v)
	return nil
}

// presenceConcurrency bounds the user-actor requests of one presence
// lookup (a page of up to 200 drivers).
const presenceConcurrency = 16

// presence asks each user's actor whether they hold a live session. The
// sessions live in the actors' memory, renewed by the gateways on every
// ping, so this is exact up to one lease and costs no write.
func (s *Server) presence(ctx context.Context, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(presenceConcurrency)
	now := s.now().UnixMilli()
	for _, id := range ids {
		g.Go(func() error {
			reply, err := s.actors.User(gctx, id, &pb.UserCommand{
				CommandId: "presence", By: &pb.Principal{UserId: "system", Role: actors.RoleSystem}, AtMs: now,
				Body: &pb.UserCommand_Get{Get: &pb.GetUser{}},
			})
			if err != nil {
				return unavailable(err)
			}
			if reply.GetRejection() != nil {
				return nil // no such user: not online
			}
			mu.Lock()
			out[id] = len(user.Live(reply.GetUser(), now)) > 0
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

func (s *Server) listDrivers(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, after, err := paging(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(driver.Statuses, status) {
		return invalid(problem.FieldError{Field: "status", Message: "must be offline, available or busy"})
	}
	ds, more, err := s.store.ListDrivers(r.Context(), persistence.DriverFilter{Status: status, Limit: limit, After: after})
	if err != nil {
		return unavailable(err)
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	online, err := s.presence(r.Context(), ids)
	if err != nil {
		return err
	}
	out := wire.Page[wire.Driver]{Items: make([]wire.Driver, 0, len(ds))}
	for _, d := range ds {
		v := driverView(d)
		v.Online = online[d.ID]
		out.Items = append(out.Items, v)
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
		return invalid(problem.FieldError{Field: "available", Message: "is required"})
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
	return s.writeDriver(w, r, d)
}

// patchDriver is an admin's change of a driver's capacity and/or
// availability. Forcing a driver unavailable also withdraws the offers
// he has not accepted yet (DESIGN.md §3, §7): each goes back to pending.
func (s *Server) patchDriver(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("usr")
	if err != nil {
		return err
	}
	var req struct {
		Capacity  *int  `json:"capacity"`
		Available *bool `json:"available"`
	}
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if req.Capacity == nil && req.Available == nil {
		return invalid(problem.FieldError{Field: "capacity", Message: "give capacity, available or both"})
	}
	if req.Capacity != nil && (*req.Capacity < 1 || *req.Capacity > driver.MaxCapacity) {
		return invalid(problem.FieldError{Field: "capacity", Message: fmt.Sprintf("must be 1..%d", driver.MaxCapacity)})
	}
	by := &pb.Principal{UserId: c.principal.UserID, Role: c.principal.Role}
	send := func(suffix string, body *pb.DriverCommand) error {
		body.CommandId, body.By, body.AtMs = c.commandID+suffix, by, s.now().UnixMilli()
		reply, err := s.actors.Driver(r.Context(), id, body)
		if err != nil {
			return unavailable(err)
		}
		if rej := reply.GetRejection(); rej != nil {
			return rejected(rej.Code, rej.Message)
		}
		return nil
	}
	if req.Capacity != nil {
		if err := send(":capacity", &pb.DriverCommand{Body: &pb.DriverCommand_SetCapacity{
			SetCapacity: &pb.SetCapacity{Capacity: int32(*req.Capacity)}}}); err != nil {
			return err
		}
	}
	if req.Available != nil {
		if err := send(":available", &pb.DriverCommand{Body: &pb.DriverCommand_SetAvailability{
			SetAvailability: &pb.SetAvailability{Available: *req.Available}}}); err != nil {
			return err
		}
		if !*req.Available {
			if err := s.withdrawOffers(r, c, id); err != nil {
				return err
			}
		}
	}
	d, err := s.store.GetDriver(r.Context(), id)
	if err != nil {
		return unavailable(err)
	}
	return s.writeDriver(w, r, d)
}

// withdrawOffers unassigns every order offered to driverID and not yet
// accepted. Each unassign names the version the order was listed at, so
// an offer accepted, declined or expired since is left as it is (the
// actor answers version_conflict or invalid_transition, and the race with
// an accept is settled there).
func (s *Server) withdrawOffers(r *http.Request, c *call, driverID string) error {
	after := ""
	for {
		rows, more, err := s.store.ListOrders(r.Context(), persistence.OrderFilter{
			Statuses: []string{order.Assigned}, DriverID: driverID, Limit: 100, After: after})
		if err != nil {
			return unavailable(err)
		}
		for _, o := range rows {
			after = o.ID
			_, err := s.orderCommand(r, &call{commandID: c.commandID + ":withdraw:" + o.ID, principal: c.principal},
				o.ID, o.Version, &pb.OrderCommand{Body: &pb.OrderCommand_Unassign{
					Unassign: &pb.UnassignOrder{Reason: "driver made unavailable"}}})
			var e *Error
			if errors.As(err, &e) && (e.Code == problem.VersionConflict || e.Code == problem.InvalidTransition) {
				continue // answered or expired since it was listed
			}
			if err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

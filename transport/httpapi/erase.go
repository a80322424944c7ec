package httpapi

import (
	"errors"
	"net/http"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// openOrderStatuses are a customer's orders still under way: erasing
// their addresses would strand a delivery.
var openOrderStatuses = []string{order.Pending, order.Assigned, order.Accepted, order.PickedUp, order.InTransit}

// heldOrderStatuses are the orders a driver has taken on: his erasure or
// role change waits until an admin reassigns them or they end.
var heldOrderStatuses = []string{order.Accepted, order.PickedUp, order.InTransit}

// eraseUser serves DELETE /v1/users/:id (admins): the account's personal
// data is erased (README "Personal data"). In order:
//
//  1. refusals: his own account (cannot_erase_self), the last active
//     admin (last_admin), a customer's orders under way or a driver's
//     accepted ones (user_has_active_orders); a driver is first made
//     unavailable and his open offers withdrawn;
//  2. the user actor's erasure: one commit erases his row, purges his
//     journal behind a snapshot holding nothing personal, deletes his
//     tokens, notifications, login failures and locations, and revokes
//     his tokens (his sockets close);
//  3. each of his orders is redacted by its own actor (order.redacted);
//  4. the Idempotency-Key answers that mention him are deleted.
//
// Every step is idempotent and a repeat on an erased account skips to 3,
// so a DELETE cut short by a failure is finished by the next one.
func (s *Server) eraseUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("usr")
	if err != nil {
		return err
	}
	if id == c.principal.UserID {
		return errorf(problem.CannotEraseSelf, "an admin cannot erase his own account; another admin can")
	}
	u, err := s.store.GetUser(r.Context(), id)
	if errors.Is(err, persistence.ErrNotFound) {
		return errorf(problem.NotFound, "no such user %s", id)
	}
	if err != nil {
		return unavailable(err)
	}
	if !u.Erased {
		if err := s.mayErase(r, c, u); err != nil {
			return err
		}
		if _, err := s.userCommand(r, c, id, ":erase", &pb.UserCommand{Body: &pb.UserCommand_Erase{Erase: &pb.EraseUser{}}}); err != nil {
			return err
		}
	}
	if err := s.redactOrders(r, c, id); err != nil {
		return err
	}
	if _, err := s.store.ForgetUser(r.Context(), id); err != nil {
		return unavailable(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// mayErase refuses the erasure of u while it would leave no admin or
// strand orders under way; a driver is made unavailable and his open
// offers withdrawn first, as a switched-off account's are.
func (s *Server) mayErase(r *http.Request, c *call, u persistence.User) error {
	if u.Role == actors.RoleAdmin {
		if err := s.otherAdminRemains(r, u.ID); err != nil {
			return err
		}
	}
	if err := s.noOrders(r, persistence.OrderFilter{CustomerID: u.ID, Statuses: openOrderStatuses},
		"his orders not yet delivered, cancelled or failed must end first"); err != nil {
		return err
	}
	if u.Role != actors.RoleDriver {
		return nil
	}
	return s.releaseDriver(r, c, u.ID)
}

// makeUnavailable has driver id's actor make him unavailable (a driver
// with no driver record is left alone).
func (s *Server) makeUnavailable(r *http.Request, c *call, id string) error {
	reply, err := s.actors.Driver(r.Context(), id, &pb.DriverCommand{CommandId: c.commandID + ":unavailable",
		By: &pb.Principal{UserId: c.principal.UserID, Role: c.principal.Role}, AtMs: s.now().UnixMilli(),
		Body: &pb.DriverCommand_SetAvailability{SetAvailability: &pb.SetAvailability{Available: false}}})
	if err != nil {
		return unavailable(err)
	}
	if rej := reply.GetRejection(); rej != nil && rej.Code != actors.CodeNotFound {
		return rejected(rej.Code, rej.Message)
	}
	return nil
}

// releaseDriver makes driver id unavailable and withdraws his open
// offers, unless he holds accepted orders (user_has_active_orders): the
// step before a change that takes him out of the fleet.
func (s *Server) releaseDriver(r *http.Request, c *call, id string) error {
	const why = "an admin must unassign or end the orders he accepted first"
	if err := s.noOrders(r, persistence.OrderFilter{DriverID: id, Statuses: heldOrderStatuses}, why); err != nil {
		return err
	}
	if err := s.makeUnavailable(r, c, id); err != nil {
		return err
	}
	if err := s.withdrawOffers(r, c, id); err != nil {
		return err
	}
	// An offer accepted between the first look and the withdrawal.
	return s.holdsNoOrders(r, id, why)
}

// holdsNoOrders answers user_has_active_orders (with why) while driver
// id's record counts orders he holds.
func (s *Server) holdsNoOrders(r *http.Request, id, why string) error {
	d, err := s.store.GetDriver(r.Context(), id)
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		return unavailable(err)
	}
	if err == nil && d.ActiveOrders > 0 {
		return errorf(problem.UserHasActiveOrders, "the driver holds %d orders: %s", d.ActiveOrders, why)
	}
	return nil
}

// noOrders answers user_has_active_orders when f finds an order.
func (s *Server) noOrders(r *http.Request, f persistence.OrderFilter, why string) error {
	f.Limit = 1
	rows, _, err := s.store.ListOrders(r.Context(), f)
	if err != nil {
		return unavailable(err)
	}
	if len(rows) > 0 {
		return errorf(problem.UserHasActiveOrders, "order %s is %s: %s", rows[0].ID, rows[0].Status, why)
	}
	return nil
}

// otherAdminRemains answers last_admin unless an active admin other than
// id exists. It is the early answer, before anything else is done; the
// store's guard in the commit of the change (actors.Commit.AdminsLeaving)
// is what holds when two admins act on each other at once.
func (s *Server) otherAdminRemains(r *http.Request, id string) error {
	for after := ""; ; {
		us, more, err := s.store.ListUsers(r.Context(), persistence.UserFilter{Role: actors.RoleAdmin, Limit: 100, After: after})
		if err != nil {
			return unavailable(err)
		}
		for _, u := range us {
			if u.ID != id && !u.Inactive {
				return nil
			}
		}
		if !more || len(us) == 0 {
			return errorf(problem.LastAdmin, "no other active admin would remain")
		}
		after = us[len(us)-1].ID
	}
}

// redactOrders has every order of customer id erase his personal data
// (order.redacted); an order already redacted changes nothing.
func (s *Server) redactOrders(r *http.Request, c *call, id string) error {
	system := &pb.Principal{UserId: actors.SystemUserID, Role: actors.RoleSystem}
	for after := ""; ; {
		rows, more, err := s.store.ListOrders(r.Context(), persistence.OrderFilter{CustomerID: id, Limit: 100, After: after})
		if err != nil {
			return unavailable(err)
		}
		for _, o := range rows {
			reply, err := s.actors.Order(r.Context(), o.ID, &pb.OrderCommand{CommandId: c.commandID + ":redact:" + o.ID,
				By: system, AtMs: s.now().UnixMilli(), Body: &pb.OrderCommand_Redact{Redact: &pb.RedactOrder{}}})
			if err != nil {
				return unavailable(err)
			}
			if rej := reply.GetRejection(); rej != nil {
				return rejected(rej.Code, rej.Message)
			}
		}
		if !more || len(rows) == 0 {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// changeRole gives user id the role (PATCH /v1/users/:id). A driver
// keeps his role while he has offers or orders open (user_has_active_orders);
// leaving it, he is made unavailable first, so that no offer can reach
// him between the check and the change (a reservation needs an
// available driver). An admin leaving the role must leave another active
// admin (last_admin). A new driver's record is registered in the same
// commit as his role; one who had a record keeps it, unavailable.
func (s *Server) changeRole(r *http.Request, c *call, id, role string) error {
	u, err := s.store.GetUser(r.Context(), id)
	if errors.Is(err, persistence.ErrNotFound) || (err == nil && u.Erased) {
		return errorf(problem.NotFound, "no such user %s", id)
	}
	if err != nil {
		return unavailable(err)
	}
	if u.Role == role {
		return nil
	}
	if u.Role == actors.RoleAdmin {
		if err := s.otherAdminRemains(r, id); err != nil {
			return err
		}
	}
	if u.Role == actors.RoleDriver {
		const why = "his offers and orders must end or be unassigned first"
		if err := s.noOrders(r, persistence.OrderFilter{DriverID: id, Statuses: append([]string{order.Assigned}, heldOrderStatuses...)}, why); err != nil {
			return err
		}
		if err := s.makeUnavailable(r, c, id); err != nil {
			return err
		}
		if err := s.holdsNoOrders(r, id, why); err != nil {
			return err
		}
	}
	_, err = s.userCommand(r, c, id, ":role", &pb.UserCommand{Body: &pb.UserCommand_ChangeRole{ChangeRole: &pb.ChangeRole{Role: role}}})
	return err
}

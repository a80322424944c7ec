package host

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/actors/user"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// OrderProps are the props of the order kind: it accepts *pb.OrderCommand
// and answers *pb.OrderReply.
func (h *Host) OrderProps() *actor.Props {
	return props(h, machine[*pb.OrderState, *pb.OrderCommand]{
		kind:    actors.KindOrder,
		restore: order.Restore,
		decide: func(s *pb.OrderState, id string, cmd *pb.OrderCommand) (*pb.OrderState, *actors.Commit, *actors.Rejection, error) {
			if actors.SeenCommand(s.GetRecentCommandIds(), cmd.GetCommandId()) {
				return s, nil, nil, nil
			}
			events, rej := order.Decide(s, cmd)
			if rej != nil || len(events) == 0 {
				return s, nil, rej, nil
			}
			next := order.Number(s, id, events)
			c, err := order.Effects(s, next, events)
			if err == nil && cmd.GetRedact() != nil {
				err = h.redaction(&c, next)
			}
			return next, &c, nil, err
		},
		reply: func(s *pb.OrderState, rej *actors.Rejection) proto.Message {
			return &pb.OrderReply{Order: s, Rejection: rejection(rej)}
		},
		creates: func(cmd *pb.OrderCommand) bool { return cmd.GetCreate() != nil },
		changed: func(prev, next *pb.OrderState, _ string, _ *pb.OrderCommand) {
			// A driver who gained or lost this order changed his active
			// orders, and maybe his status (available ↔ busy): the fleet
			// watchers hear of it. The gateway reads his committed row.
			was, is := heldBy(prev), heldBy(next)
			if was == is {
				return
			}
			for _, id := range []string{was, is} {
				if id != "" {
					h.tellFleet(id, nil)
				}
			}
		},
	})
}

// heldBy is the driver whose capacity order s occupies, if any.
func heldBy(s *pb.OrderState) string {
	if order.HoldsDriver(s.GetStatus()) {
		return s.GetDriverId()
	}
	return ""
}

// DriverProps are the props of the driver kind (*pb.DriverCommand →
// *pb.DriverReply).
func (h *Host) DriverProps() *actor.Props {
	return props(h, machine[*pb.DriverState, *pb.DriverCommand]{
		kind:    actors.KindDriver,
		restore: driver.Restore,
		decide: func(s *pb.DriverState, id string, cmd *pb.DriverCommand) (*pb.DriverState, *actors.Commit, *actors.Rejection, error) {
			if u := cmd.GetUpdateLocation(); u != nil {
				return h.fix(s, id, u.Fix), nil, nil, nil
			}
			if actors.SeenCommand(s.GetRecentCommandIds(), cmd.GetCommandId()) {
				return s, nil, nil, nil
			}
			events, rej := driver.Decide(s, cmd)
			if rej != nil || len(events) == 0 {
				return s, nil, rej, nil
			}
			next := driver.Number(s, id, events)
			c, err := driver.Effects(next, events)
			return next, &c, nil, err
		},
		reply: func(s *pb.DriverState, rej *actors.Rejection) proto.Message {
			return &pb.DriverReply{Driver: s, Rejection: rejection(rej)}
		},
		changed: func(prev, next *pb.DriverState, id string, cmd *pb.DriverCommand) {
			// Availability and capacity reach the driver's zone; a fix
			// reaches it from fix, without a commit.
			if prev.GetAvailable() != next.GetAvailable() || prev.GetCapacity() != next.GetCapacity() {
				h.tellZones(id, nil, next)
				h.tellFleet(id, next)
			}
		},
	})
}

// UserProps are the props of the user kind (*pb.UserCommand →
// *pb.UserReply).
func (h *Host) UserProps() *actor.Props {
	return props(h, machine[*pb.UserState, *pb.UserCommand]{
		kind:    actors.KindUser,
		restore: user.Restore,
		decide: func(s *pb.UserState, id string, cmd *pb.UserCommand) (*pb.UserState, *actors.Commit, *actors.Rejection, error) {
			if next, rej, ok := h.sessionCommand(s, id, cmd); ok {
				return next, nil, rej, nil
			}
			if actors.SeenCommand(s.GetRecentCommandIds(), cmd.GetCommandId()) {
				return s, nil, nil, nil
			}
			events, rej := user.Decide(s, cmd)
			if rej != nil || len(events) == 0 {
				return s, nil, rej, nil
			}
			next := user.Number(s, id, events)
			c, err := user.Effects(next, cmd, events)
			return next, &c, nil, err
		},
		reply: func(s *pb.UserState, rej *actors.Rejection) proto.Message {
			return &pb.UserReply{User: s, Rejection: rejection(rej)}
		},
		creates: func(cmd *pb.UserCommand) bool { return cmd.GetCreate() != nil },
		committed: func(s *pb.UserState, cmd *pb.UserCommand) {
			// The commands whose events revoke the user's tokens (logout,
			// a reused refresh token, a password change, an account
			// switched off or erased, a new role): every node learns it,
			// and his sockets close. (A repeat or a no-op commits nothing
			// and never gets here.)
			if cmd.GetRevokeSessions() != nil || cmd.GetChangePassword() != nil || cmd.GetErase() != nil ||
				cmd.GetChangeRole() != nil ||
				(cmd.GetSetActive() != nil && !cmd.GetSetActive().GetActive()) {
				h.closeSessions(s, cmd)
			}
		},
	})
}

// redaction adds to c, the commit of an order's redaction, the rewrite
// of everything the order journaled before (order.AddRedaction), read
// from the store: a snapshot may hide the early events from the
// activation. Should the journal have moved past next's predecessor,
// the commit's own event meets the fence and the activation reloads.
func (h *Host) redaction(c *actors.Commit, next *pb.OrderState) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
	defer cancel()
	journal, err := h.cfg.Store.JournalEvents(ctx, actors.KindOrder, next.Id, 0)
	if err != nil {
		return err
	}
	return order.AddRedaction(c, next, journal)
}

func rejection(r *actors.Rejection) *pb.Rejection {
	if r == nil {
		return nil
	}
	return &pb.Rejection{Code: r.Code, Message: r.Message}
}

// fix keeps an accepted fix as the driver's last position (in memory: fixes
// are not journaled) and hands it to the location sink.
func (h *Host) fix(s *pb.DriverState, id string, f *pb.Fix) *pb.DriverState {
	if !driver.Exists(s) {
		h.metrics.fixes.WithLabelValues("unknown_driver").Inc()
		return s
	}
	if reason := driver.AcceptFix(s.LastLocation, f, h.cfg.MaxPlausibleSpeed); reason != driver.FixAccepted {
		h.metrics.fixes.WithLabelValues(reason).Inc()
		return s
	}
	h.metrics.fixes.WithLabelValues("accepted").Inc()
	if h.cfg.Locations != nil {
		h.cfg.Locations.Fix(id, f)
	}
	next := driver.WithLocation(s, f)
	h.tellZones(id, s, next)
	return next
}

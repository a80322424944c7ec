package order

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// Why a job is withdrawn from a driver (wire.Job.Reason).
const (
	WithdrawnExpired    = "expired"
	WithdrawnUnassigned = "unassigned"
	WithdrawnCancelled  = "cancelled"
)

// OfferDeadlineID is the id of the deadline that expires the offer made
// by order event seq.
func OfferDeadlineID(orderID string, seq int64) string {
	return "offer:" + orderID + ":" + fmt.Sprint(seq)
}

// ExpireCommand is the command an offer's deadline sends: expire the
// offer made by event seq, as the system. Its command id is fixed per
// offer, so a deadline fired twice is one command repeated.
func ExpireCommand(orderID string, seq int64) *pb.OrderCommand {
	return &pb.OrderCommand{
		CommandId: "expire-offer:" + wire.OfferID(orderID, seq),
		By:        &pb.Principal{UserId: actors.SystemUserID, Role: actors.RoleSystem},
		Body:      &pb.OrderCommand_ExpireOffer{ExpireOffer: &pb.ExpireOffer{OfferSeq: seq}},
	}
}

// offerEffects adds to c what event e does to an offer, before → after:
// an order.assigned arms the offer's deadline and tells the driver
// (job.offered); when an open offer or an accepted job leaves the driver
// the deadline goes, and the driver is told (job.withdrawn) unless he
// declined himself or the order ended in his hands (failed).
func offerEffects(c *actors.Commit, before, after *pb.OrderState, e *pb.OrderEvent, at time.Time) error {
	if a := e.GetAssigned(); a != nil {
		cmd, err := proto.Marshal(ExpireCommand(e.OrderId, e.Seq))
		if err != nil {
			return fmt.Errorf("encode offer expiry: %w", err)
		}
		c.Deadlines = append(c.Deadlines, actors.Deadline{
			ID: OfferDeadlineID(e.OrderId, e.Seq), Kind: actors.KindOrder, EntityID: e.OrderId,
			DueAt: time.UnixMilli(a.OfferExpiresAtMs).UTC(), Command: cmd,
		})
		job := wire.Job{Event: wire.JobOffered, DriverID: a.DriverId, OrderID: e.OrderId,
			OfferID:   wire.OfferID(e.OrderId, e.Seq),
			ExpiresAt: wire.Timestamp(time.UnixMilli(a.OfferExpiresAtMs)),
			At:        wire.Timestamp(at)}
		pickup, dropoff := place(after.Pickup), place(after.Dropoff)
		job.Pickup, job.Dropoff = &pickup, &dropoff
		if a.HasDistance {
			d := a.DistanceM
			job.DistanceM = &d
		}
		return addJob(c, e, job)
	}
	if before.GetOfferSeq() != 0 && after.GetOfferSeq() != before.GetOfferSeq() {
		c.DeadlinesDone = append(c.DeadlinesDone, OfferDeadlineID(e.OrderId, before.OfferSeq))
	}
	if before.GetDriverId() == "" || after.GetDriverId() == before.GetDriverId() && !Terminal(after.Status) {
		return nil
	}
	var reason string
	switch {
	case e.GetOfferExpired() != nil:
		reason = WithdrawnExpired
	case e.GetUnassigned() != nil:
		reason = WithdrawnUnassigned
	case after.Status == Cancelled:
		reason = WithdrawnCancelled
	default: // declined by the driver, delivered or failed: nothing to take back
		return nil
	}
	job := wire.Job{Event: wire.JobWithdrawn, DriverID: before.DriverId, OrderID: e.OrderId,
		Reason: reason, At: wire.Timestamp(at)}
	if before.OfferSeq != 0 {
		job.OfferID = wire.OfferID(e.OrderId, before.OfferSeq)
	}
	return addJob(c, e, job)
}

func addJob(c *actors.Commit, e *pb.OrderEvent, job wire.Job) error {
	job.ID = wire.JobEventID(e.OrderId, e.Seq)
	body, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("encode job: %w", err)
	}
	c.Outbox = append(c.Outbox, actors.OutboxMessage{
		ID: job.ID, Subject: wire.JobSubject(job.DriverID),
		Payload: body, At: time.UnixMilli(e.AtMs).UTC(),
	})
	return nil
}

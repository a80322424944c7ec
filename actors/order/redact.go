package order

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Redaction erases the personal data of an order whose customer was
// erased (DELETE /v1/users/:id): the addresses (ErasedAddress takes
// their place) and coordinates of its pickup and drop-off, its notes, and the free-text reasons of its
// events. What an order's accounting needs stays: its id and customer
// id (an opaque reference), its driver, delivery option, status history,
// payment status and reference, proofs and times.
//
// A redaction is an event of its own, order.redacted, at the next seq,
// so the journal's key fences it like any commit (I5): an activation
// still holding the addresses can never write them back. The same
// commit rewrites the past (actors.Redaction): every earlier event's
// payload, every timeline line's metadata and the outbox messages not
// yet published, each rebuilt from the redacted journal, so the
// published form a subscriber replays (PublishedAfter) is redacted too;
// a snapshot of the redacted state replaces any older one.

// ErasedAddress stands for an erased address: an order's places keep
// one, so that every order has the shape clients know.
const ErasedAddress = "(erased)"

func erasedPlace() *pb.Place { return &pb.Place{Address: ErasedAddress} }

func decideRedact(s *pb.OrderState, cmd *pb.OrderCommand) ([]*pb.OrderEvent, *actors.Rejection) {
	if r := cmd.GetBy().GetRole(); r != actors.RoleSystem && r != actors.RoleAdmin {
		return nil, actors.Reject(actors.CodeForbidden, "only the system erases an order's personal data")
	}
	if s.Redacted {
		return nil, nil // already redacted: nothing personal came since
	}
	e := event(cmd)
	e.Body = &pb.OrderEvent_Redacted{Redacted: &pb.OrderRedacted{}}
	return []*pb.OrderEvent{e}, nil
}

// applyRedacted is Apply's part for an order.redacted event.
func applyRedacted(n *pb.OrderState) {
	n.Pickup, n.Dropoff, n.Notes = erasedPlace(), erasedPlace(), ""
	n.Redacted = true
}

// RedactEvent returns e without its personal data (a copy; e is not
// changed) and whether there was any.
func RedactEvent(e *pb.OrderEvent) (*pb.OrderEvent, bool) {
	r := proto.Clone(e).(*pb.OrderEvent)
	changed := false
	blank := func(s *string) {
		if *s != "" {
			*s, changed = "", true
		}
	}
	switch b := r.Body.(type) {
	case *pb.OrderEvent_Created:
		if !proto.Equal(b.Created.Pickup, erasedPlace()) || !proto.Equal(b.Created.Dropoff, erasedPlace()) {
			b.Created.Pickup, b.Created.Dropoff, changed = erasedPlace(), erasedPlace(), true
		}
		blank(&b.Created.Notes)
	case *pb.OrderEvent_Declined:
		blank(&b.Declined.Reason)
	case *pb.OrderEvent_Unassigned:
		blank(&b.Unassigned.Reason)
	case *pb.OrderEvent_StatusChanged:
		blank(&b.StatusChanged.Reason)
	}
	return r, changed
}

// AddRedaction adds to c, the commit of an order.redacted event, the
// rewrite of the order's past: journal is its whole journal before that
// event (seq 1 on), as the store holds it.
func AddRedaction(c *actors.Commit, next *pb.OrderState, journal []actors.Event) error {
	red := actors.Redaction{Kind: actors.KindOrder, EntityID: next.Id, Order: true}
	redacted := make([]actors.Event, 0, len(journal))
	for _, rec := range journal {
		e := &pb.OrderEvent{}
		if err := proto.Unmarshal(rec.Payload, e); err != nil {
			return fmt.Errorf("decode order event %d: %w", rec.Seq, err)
		}
		r, changed := RedactEvent(e)
		if changed {
			payload, err := proto.Marshal(r)
			if err != nil {
				return fmt.Errorf("encode order event %d: %w", rec.Seq, err)
			}
			rec.Payload = payload
			red.Journal = append(red.Journal, rec)
			if md := metadata(r); md != nil {
				red.Timeline = append(red.Timeline, actors.TimelineEntry{OrderID: next.Id, Seq: rec.Seq, Metadata: md})
			}
		}
		redacted = append(redacted, rec)
	}
	published, err := PublishedAfter(redacted, 0)
	if err != nil {
		return err
	}
	for _, p := range published {
		msg, err := publishedMessage(p)
		if err != nil {
			return err
		}
		red.Outbox = append(red.Outbox, msg)
	}
	c.Redactions = append(c.Redactions, red)
	for _, sn := range c.Snapshots {
		if sn.Kind == actors.KindOrder && sn.EntityID == next.Id && sn.Seq == next.Version {
			return nil
		}
	}
	snap, err := proto.Marshal(next)
	if err != nil {
		return fmt.Errorf("encode order snapshot: %w", err)
	}
	c.Snapshots = append(c.Snapshots, actors.Snapshot{Kind: actors.KindOrder, EntityID: next.Id, Seq: next.Version, State: snap})
	return nil
}

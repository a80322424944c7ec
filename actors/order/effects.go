package order

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// SnapshotEvery is how many events pass between two snapshots of an order.
// Orders live for about six events, so most load from a short journal tail.
const SnapshotEvery = 5

// Number gives events consecutive sequence numbers after s's version and
// stamps the order id, returning the state after applying all of them.
func Number(s *pb.OrderState, id string, events []*pb.OrderEvent) *pb.OrderState {
	next := s
	for _, e := range events {
		e.OrderId = id
		e.Seq = next.GetVersion() + 1
		next = Apply(next, e)
	}
	return next
}

// Effects is the commit that persists events, which Number has numbered
// and which take prev to next: journal entries, the order row, timeline
// lines, driver capacity changes, outbox messages (the event, and the
// job it offers or withdraws to the driver), the offer's deadline armed
// or removed and, every SnapshotEvery events, a snapshot of next.
func Effects(prev, next *pb.OrderState, events []*pb.OrderEvent) (actors.Commit, error) {
	var c actors.Commit
	state := prev
	for _, e := range events {
		payload, err := proto.Marshal(e)
		if err != nil {
			return c, fmt.Errorf("encode order event: %w", err)
		}
		before := state
		state = Apply(state, e)
		at := time.UnixMilli(e.AtMs).UTC()
		typ := EventType(e)
		c.Events = append(c.Events, actors.Event{
			Kind: actors.KindOrder, EntityID: e.OrderId, Seq: e.Seq, Type: typ,
			Payload: payload, CommandID: e.CommandId, At: at,
		})
		// A redaction is no step of the delivery: it adds no timeline line
		// (the orders-by-day metric counts lines by status).
		if e.GetRedacted() == nil {
			c.Timeline = append(c.Timeline, actors.TimelineEntry{
				OrderID: e.OrderId, Seq: e.Seq, Status: state.Status,
				ByUserID: e.By.GetUserId(), ByRole: e.By.GetRole(),
				Metadata: metadata(e), At: at,
			})
		}
		c.Loads = append(c.Loads, loads(e)...)
		if p := e.GetProofAdded(); p != nil {
			c.Proofs = append(c.Proofs, actors.ProofRow{
				OrderID: e.OrderId, Seq: e.Seq, Key: p.Key, ContentType: p.ContentType, Size: p.Size,
				ByUserID: e.By.GetUserId(), At: at,
			})
		}
		msg, err := outbox(e, typ, Row(state))
		if err != nil {
			return c, err
		}
		c.Outbox = append(c.Outbox, msg)
		if err := offerEffects(&c, before, state, e, at); err != nil {
			return c, err
		}
		if e.Seq%SnapshotEvery == 0 {
			snap, err := proto.Marshal(state)
			if err != nil {
				return c, fmt.Errorf("encode order snapshot: %w", err)
			}
			c.Snapshots = append(c.Snapshots, actors.Snapshot{
				Kind: actors.KindOrder, EntityID: e.OrderId, Seq: e.Seq, State: snap,
			})
		}
	}
	if len(events) > 0 {
		if err := dispatchEffects(&c, prev, next, events[len(events)-1].AtMs); err != nil {
			return c, err
		}
	}
	c.Orders = []actors.OrderRow{Row(next)}
	return c, nil
}

// loads is the capacity change an event makes on its driver (I2).
func loads(e *pb.OrderEvent) []actors.DriverLoad {
	switch b := e.Body.(type) {
	case *pb.OrderEvent_Assigned:
		return []actors.DriverLoad{{DriverID: b.Assigned.DriverId, Delta: 1}}
	case *pb.OrderEvent_Declined:
		return []actors.DriverLoad{{DriverID: b.Declined.DriverId, Delta: -1}}
	case *pb.OrderEvent_OfferExpired:
		return []actors.DriverLoad{{DriverID: b.OfferExpired.DriverId, Delta: -1}}
	case *pb.OrderEvent_Unassigned:
		return []actors.DriverLoad{{DriverID: b.Unassigned.DriverId, Delta: -1}}
	case *pb.OrderEvent_StatusChanged:
		if b.StatusChanged.DriverId != "" {
			return []actors.DriverLoad{{DriverID: b.StatusChanged.DriverId, Delta: -1}}
		}
	}
	return nil
}

// metadata is what the timeline shows about an event beyond its status.
func metadata(e *pb.OrderEvent) map[string]string {
	m := map[string]string{"event": EventType(e)}
	switch b := e.Body.(type) {
	case *pb.OrderEvent_Assigned:
		m["driver_id"] = b.Assigned.DriverId
		m["offer_id"] = wire.OfferID(e.OrderId, e.Seq)
		m["offer_expires_at"] = wire.Timestamp(time.UnixMilli(b.Assigned.OfferExpiresAtMs))
		if b.Assigned.HasDistance {
			m["distance_m"] = strconv.FormatFloat(b.Assigned.DistanceM, 'f', 0, 64)
		}
		if d := b.Assigned.Dispatch; d != nil {
			m["dispatch_run"] = strconv.FormatInt(d.Run, 10)
			m["score"] = strconv.FormatFloat(d.Score, 'f', -1, 64)
		}
	case *pb.OrderEvent_DispatchStarted:
		m["dispatch_run"] = strconv.FormatInt(b.DispatchStarted.Run, 10)
		m["starts_at"] = wire.Timestamp(time.UnixMilli(b.DispatchStarted.StartsAtMs))
		m["deadline_at"] = wire.Timestamp(time.UnixMilli(b.DispatchStarted.DeadlineAtMs))
	case *pb.OrderEvent_PaymentChanged:
		m["from"] = b.PaymentChanged.From
		m["to"] = b.PaymentChanged.To
		if b.PaymentChanged.Reference != "" {
			m["reference"] = b.PaymentChanged.Reference
		}
	case *pb.OrderEvent_DispatchFailed:
		m["dispatch_run"] = strconv.FormatInt(b.DispatchFailed.Run, 10)
		m["reason"] = b.DispatchFailed.Reason
		m["attempts"] = strconv.Itoa(int(b.DispatchFailed.Attempts))
	case *pb.OrderEvent_OfferExpired:
		m["driver_id"] = b.OfferExpired.DriverId
		m["offer_id"] = wire.OfferID(e.OrderId, b.OfferExpired.OfferSeq)
	case *pb.OrderEvent_Unassigned:
		m["driver_id"] = b.Unassigned.DriverId
		m["from"] = b.Unassigned.From
		if b.Unassigned.Reason != "" {
			m["reason"] = b.Unassigned.Reason
		}
	case *pb.OrderEvent_Accepted:
		m["driver_id"] = b.Accepted.DriverId
	case *pb.OrderEvent_Declined:
		m["driver_id"] = b.Declined.DriverId
		if b.Declined.Reason != "" {
			m["reason"] = b.Declined.Reason
		}
	case *pb.OrderEvent_ProofAdded:
		m["proof_key"] = b.ProofAdded.Key
		m["content_type"] = b.ProofAdded.ContentType
	case *pb.OrderEvent_StatusChanged:
		m["from"] = b.StatusChanged.From
		if b.StatusChanged.Reason != "" {
			m["reason"] = b.StatusChanged.Reason
		}
	}
	return m
}

// Published is an order event as the bus carries it (wire.OrderEvent).
type Published = wire.OrderEvent

// PublishedBy names who caused a published event (wire.By).
type PublishedBy = wire.By

// Subject is the bus subject of an order's events: wire.OrderSubject,
// which new code calls directly.
func Subject(orderID string) string { return wire.OrderSubject(orderID) }

// EventID is the stable id of an order's event seq: wire.OrderEventID,
// which new code calls directly.
func EventID(orderID string, seq int64) string { return wire.OrderEventID(orderID, seq) }

func publish(e *pb.OrderEvent, row actors.OrderRow) Published {
	return Published{
		ID: wire.OrderEventID(e.OrderId, e.Seq), Type: EventType(e), OrderID: e.OrderId, Seq: e.Seq,
		At:    wire.Timestamp(time.UnixMilli(e.AtMs)),
		By:    wire.By{UserID: e.By.GetUserId(), Role: e.By.GetRole()},
		Order: row.Public(),
	}
}

// PublishedAfter rebuilds, from an order's whole journal (seq 1 on), the
// published form of every event with seq > after — exactly what the
// outbox carried — so a subscriber can resume from any seq (I4).
func PublishedAfter(journal []actors.Event, after int64) ([]Published, error) {
	var out []Published
	s := &pb.OrderState{}
	for _, rec := range journal {
		e := &pb.OrderEvent{}
		if err := proto.Unmarshal(rec.Payload, e); err != nil {
			return nil, fmt.Errorf("decode order event %d: %w", rec.Seq, err)
		}
		if e.Seq != s.Version+1 {
			return nil, fmt.Errorf("order %s journal gap: have version %d, next event is %d", rec.EntityID, s.Version, e.Seq)
		}
		s = Apply(s, e)
		if e.Seq > after {
			out = append(out, publish(e, Row(s)))
		}
	}
	return out, nil
}

func outbox(e *pb.OrderEvent, typ string, row actors.OrderRow) (actors.OutboxMessage, error) {
	msg, err := publishedMessage(publish(e, row))
	msg.At = time.UnixMilli(e.AtMs).UTC()
	return msg, err
}

// publishedMessage is the outbox message carrying p (At unset).
func publishedMessage(p Published) (actors.OutboxMessage, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return actors.OutboxMessage{}, fmt.Errorf("encode published order event: %w", err)
	}
	return actors.OutboxMessage{ID: p.ID, Subject: wire.OrderSubject(p.OrderID), Payload: body}, nil
}

// Row is the read-model row of state s.
func Row(s *pb.OrderState) actors.OrderRow {
	r := actors.OrderRow{
		ID: s.Id, CustomerID: s.CustomerId, DriverID: s.DriverId,
		Pickup: place(s.Pickup), Dropoff: place(s.Dropoff),
		DeliveryOption: s.DeliveryOption, PaymentStatus: s.PaymentStatus,
		Status: s.Status, Notes: s.Notes, Version: s.Version,
		CreatedAt: time.UnixMilli(s.CreatedAtMs).UTC(), UpdatedAt: time.UnixMilli(s.UpdatedAtMs).UTC(),
	}
	if s.ScheduledForMs != 0 {
		t := time.UnixMilli(s.ScheduledForMs).UTC()
		r.ScheduledFor = &t
	}
	if s.Status == Assigned && s.OfferExpiresAtMs != 0 {
		t := time.UnixMilli(s.OfferExpiresAtMs).UTC()
		r.OfferExpiresAt = &t
	}
	return r
}

func place(p *pb.Place) actors.Place {
	out := actors.Place{Address: p.GetAddress()}
	if p.GetHasCoordinates() {
		lat, lng := p.GetLat(), p.GetLng()
		out.Lat, out.Lng = &lat, &lng
	}
	return out
}

// Restore rebuilds an order's state from what the store loaded.
func Restore(l actors.Loaded) (*pb.OrderState, error) {
	s := &pb.OrderState{}
	if l.Snapshot != nil {
		if err := proto.Unmarshal(l.Snapshot.State, s); err != nil {
			return nil, fmt.Errorf("decode order snapshot: %w", err)
		}
	}
	for _, rec := range l.Events {
		e := &pb.OrderEvent{}
		if err := proto.Unmarshal(rec.Payload, e); err != nil {
			return nil, fmt.Errorf("decode order event %d: %w", rec.Seq, err)
		}
		if e.Seq != s.Version+1 {
			return nil, fmt.Errorf("order %s journal gap: have version %d, next event is %d", rec.EntityID, s.Version, e.Seq)
		}
		s = Apply(s, e)
	}
	return s, nil
}

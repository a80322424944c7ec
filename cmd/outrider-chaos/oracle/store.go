package oracle

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	pb "github.com/outrider/outrider/proto/outriderpb"
)

// JEvent is one committed order event, decoded from the journal.
type JEvent struct {
	Order     string `json:"order"`
	Seq       int64  `json:"seq"`
	Type      string `json:"type"`
	CommandID string `json:"command_id"`
	// At is the event's own timestamp (the node's clock when it took the
	// command), Unix nanoseconds, truncated to the millisecond: a lower
	// bound of the commit time.
	At int64 `json:"at"`
	// The transition, as an operation: Kind, By, Role, Driver, To,
	// Customer (create).
	Op Op `json:"op"`
}

// OrderRow is a row of the orders read model.
type OrderRow struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Driver  string `json:"driver"`
	Version int64  `json:"version"`
}

// DriverRow is a row of the drivers table.
type DriverRow struct {
	ID        string `json:"id"`
	Available bool   `json:"available"`
	Capacity  int    `json:"capacity"`
	Active    int    `json:"active_orders"`
}

// Store is what the store committed, read once the run is over.
type Store struct {
	Journal map[string][]JEvent  `json:"journal"` // by order, in seq order
	Orders  map[string]OrderRow  `json:"orders"`
	Drivers map[string]DriverRow `json:"drivers"`
}

// ReadStore reads the journal of every order, the orders read model and
// the drivers table from the Postgres schema the nodes share.
func ReadStore(ctx context.Context, pgURL, schema string) (*Store, error) {
	cfg, err := pgx.ParseConfig(pgURL)
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	st := &Store{Journal: map[string][]JEvent{}, Orders: map[string]OrderRow{}, Drivers: map[string]DriverRow{}}

	rows, err := conn.Query(ctx, `SELECT entity_id, seq, type, payload, command_id FROM journal
		WHERE kind = 'order' ORDER BY entity_id, seq`)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	for rows.Next() {
		var e JEvent
		var payload []byte
		if err := rows.Scan(&e.Order, &e.Seq, &e.Type, &payload, &e.CommandID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read journal: %w", err)
		}
		if err := decodeEvent(&e, payload); err != nil {
			rows.Close()
			return nil, fmt.Errorf("journal %s seq %d: %w", e.Order, e.Seq, err)
		}
		st.Journal[e.Order] = append(st.Journal[e.Order], e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}

	rows, err = conn.Query(ctx, `SELECT id, status, COALESCE(driver_id, ''), version FROM orders`)
	if err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	for rows.Next() {
		var o OrderRow
		if err := rows.Scan(&o.ID, &o.Status, &o.Driver, &o.Version); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read orders: %w", err)
		}
		st.Orders[o.ID] = o
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}

	rows, err = conn.Query(ctx, `SELECT id, available, capacity, active_orders FROM drivers`)
	if err != nil {
		return nil, fmt.Errorf("read drivers: %w", err)
	}
	for rows.Next() {
		var d DriverRow
		if err := rows.Scan(&d.ID, &d.Available, &d.Capacity, &d.Active); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read drivers: %w", err)
		}
		st.Drivers[d.ID] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read drivers: %w", err)
	}
	return st, nil
}

// decodeEvent fills e's transition from the protobuf payload.
func decodeEvent(e *JEvent, payload []byte) error {
	var ev pb.OrderEvent
	if err := proto.Unmarshal(payload, &ev); err != nil {
		return err
	}
	e.At = ev.GetAtMs() * 1e6
	op := Op{Order: e.Order, By: ev.GetBy().GetUserId(), Role: ev.GetBy().GetRole(), CommandID: e.CommandID}
	switch b := ev.Body.(type) {
	case *pb.OrderEvent_Created:
		op.Kind, op.Customer = Create, b.Created.GetCustomerId()
	case *pb.OrderEvent_Assigned:
		op.Kind, op.Driver = Assign, b.Assigned.GetDriverId()
	case *pb.OrderEvent_Accepted:
		op.Kind = Accept
	case *pb.OrderEvent_Declined:
		op.Kind = Decline
	case *pb.OrderEvent_StatusChanged:
		op.Kind, op.To = Status, b.StatusChanged.GetTo()
	default:
		op.Kind = Kind(fmt.Sprintf("other(%T)", ev.Body))
	}
	e.Op = op
	return nil
}

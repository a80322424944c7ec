package actors

import (
	"encoding/json"

	"github.com/outrider/outrider/wire"
)

// Place is a pickup or drop-off point (wire.Place: its JSON is public).
type Place = wire.Place

// Public is the order in its public JSON shape (wire.Order), the one the
// HTTP API answers and order events carry.
func (o OrderRow) Public() wire.Order {
	j := wire.Order{
		ID: o.ID, CustomerID: o.CustomerID, Pickup: o.Pickup, Dropoff: o.Dropoff,
		DeliveryOption: o.DeliveryOption, PaymentStatus: o.PaymentStatus,
		Status: o.Status, Notes: o.Notes, Version: o.Version,
		CreatedAt: wire.Timestamp(o.CreatedAt), UpdatedAt: wire.Timestamp(o.UpdatedAt),
	}
	if o.DriverID != "" {
		j.DriverID = &o.DriverID
	}
	if o.ScheduledFor != nil {
		s := wire.Timestamp(*o.ScheduledFor)
		j.ScheduledFor = &s
	}
	if o.OfferExpiresAt != nil {
		s := wire.Timestamp(*o.OfferExpiresAt)
		j.OfferExpiresAt = &s
	}
	return j
}

// MarshalJSON renders the order in its public shape (Public).
func (o OrderRow) MarshalJSON() ([]byte, error) { return json.Marshal(o.Public()) }

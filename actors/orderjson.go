package actors

import (
	"encoding/json"
	"time"
)

// orderJSON is the public JSON shape of an order (DESIGN.md §3); the HTTP
// API and published events both use it.
type orderJSON struct {
	ID             string  `json:"id"`
	CustomerID     string  `json:"customer_id"`
	DriverID       *string `json:"driver_id"`
	Pickup         Place   `json:"pickup"`
	Dropoff        Place   `json:"dropoff"`
	DeliveryOption string  `json:"delivery_option"`
	ScheduledFor   *string `json:"scheduled_for"`
	PaymentStatus  string  `json:"payment_status"`
	Status         string  `json:"status"`
	Notes          string  `json:"notes"`
	Version        int64   `json:"version"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
}

// Timestamp formats t as the API does: RFC 3339 in UTC, millisecond
// precision.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// MarshalJSON renders the order in its public shape: RFC 3339 UTC
// timestamps, null for a missing driver or schedule.
func (o OrderRow) MarshalJSON() ([]byte, error) {
	j := orderJSON{
		ID: o.ID, CustomerID: o.CustomerID, Pickup: o.Pickup, Dropoff: o.Dropoff,
		DeliveryOption: o.DeliveryOption, PaymentStatus: o.PaymentStatus,
		Status: o.Status, Notes: o.Notes, Version: o.Version,
		CreatedAt: Timestamp(o.CreatedAt), UpdatedAt: Timestamp(o.UpdatedAt),
	}
	if o.DriverID != "" {
		j.DriverID = &o.DriverID
	}
	if o.ScheduledFor != nil {
		s := Timestamp(*o.ScheduledFor)
		j.ScheduledFor = &s
	}
	return json.Marshal(j)
}

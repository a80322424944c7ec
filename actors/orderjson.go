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

// UnmarshalJSON reads the public shape MarshalJSON writes, so a consumer
// of published events gets the row back.
func (o *OrderRow) UnmarshalJSON(b []byte) error {
	var j orderJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*o = OrderRow{
		ID: j.ID, CustomerID: j.CustomerID, Pickup: j.Pickup, Dropoff: j.Dropoff,
		DeliveryOption: j.DeliveryOption, PaymentStatus: j.PaymentStatus,
		Status: j.Status, Notes: j.Notes, Version: j.Version,
	}
	if j.DriverID != nil {
		o.DriverID = *j.DriverID
	}
	var err error
	parse := func(s string) time.Time {
		t, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil && err == nil {
			err = perr
		}
		return t.UTC()
	}
	o.CreatedAt, o.UpdatedAt = parse(j.CreatedAt), parse(j.UpdatedAt)
	if j.ScheduledFor != nil {
		t := parse(*j.ScheduledFor)
		o.ScheduledFor = &t
	}
	return err
}

package wire

import "time"

// The public JSON of the API's resources (DESIGN.md §3): what GET
// /v1/orders/{id} answers and an order event carries, a user, a driver,
// a timeline entry, a page. The HTTP handlers build these from read rows;
// tests and tools decode into them. Field names, tags and null-versus-
// absent are the contract the OpenAPI document describes.

// TimestampLayout is how every timestamp of the API is written: RFC 3339
// in UTC with millisecond precision.
const TimestampLayout = "2006-01-02T15:04:05.000Z07:00"

// Timestamp formats t as the API does (TimestampLayout).
func Timestamp(t time.Time) string { return t.UTC().Format(TimestampLayout) }

// ParseTimestamp reads a timestamp of the API (any RFC 3339 form) as UTC.
func ParseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

// Place is a pickup or drop-off point. Lat and Lng are absent when not
// given.
type Place struct {
	Address string   `json:"address"`
	Lat     *float64 `json:"lat,omitempty"`
	Lng     *float64 `json:"lng,omitempty"`
}

// Order is the public JSON of an order: null for a missing driver or
// schedule, timestamps as Timestamp writes them.
type Order struct {
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
	// OfferExpiresAt is when the open offer to the driver lapses: set
	// while the order is assigned, null otherwise.
	OfferExpiresAt *string `json:"offer_expires_at"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
}

// Driver is the order's driver id, "" when it has none.
func (o Order) Driver() string {
	if o.DriverID == nil {
		return ""
	}
	return *o.DriverID
}

// User is the public JSON of an account.
type User struct {
	ID        string  `json:"id"`
	Email     string  `json:"email"`
	Name      string  `json:"name"`
	Phone     *string `json:"phone"`
	Role      string  `json:"role"`
	CreatedAt string  `json:"created_at"`
	// Active is false once an admin switched the account off.
	Active bool `json:"active"`
}

// Tokens is what signup, login and refresh answer.
type Tokens struct {
	User         User   `json:"user"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"` // "Bearer"
	ExpiresIn    int    `json:"expires_in"` // seconds
}

// LastLocation is a driver's newest known position, as the driver
// record shows it.
type LastLocation struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
	At  string  `json:"at"`
}

// Driver is the public JSON of a driver record.
type Driver struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	Email        string        `json:"email"`
	Phone        *string       `json:"phone"`
	Status       string        `json:"status"`
	Available    bool          `json:"available"`
	Capacity     int           `json:"capacity"`
	ActiveOrders int           `json:"active_orders"`
	LastLocation *LastLocation `json:"last_location"`
	// Online: the driver holds a live WebSocket session.
	Online    bool   `json:"online"`
	UpdatedAt string `json:"updated_at"`
}

// TimelineEntry is one item of GET /v1/orders/{id}/timeline.
type TimelineEntry struct {
	Seq      int64             `json:"seq"`
	Status   string            `json:"status"`
	By       By                `json:"by"`
	Metadata map[string]string `json:"metadata"`
	At       string            `json:"at"`
}

// TrackPoint is one item of GET /v1/orders/{id}/track: a position and
// when, as "at".
type TrackPoint struct {
	Position
	At string `json:"at"`
}

// Page is one page of a list: its items and the cursor of the next page,
// null on the last.
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// Dispatch is an order's automatic dispatch as GET /v1/orders/:id/dispatch
// shows it (DESIGN.md §7): its mode, its current (or last) run and every
// offer the engine made, with the candidates each was chosen from.
type Dispatch struct {
	OrderID string `json:"order_id"`
	Mode    string `json:"mode"`  // manual | auto
	State   string `json:"state"` // idle | searching | offered | accepted | failed | stopped
	// Run is the current or last run's number, 0 before the first.
	Run int64 `json:"run"`
	// StartsAt, DeadlineAt, MaxAttempts: the run's first round, when it
	// escalates and after how many offers.
	StartsAt      string `json:"starts_at,omitempty"`
	DeadlineAt    string `json:"deadline_at,omitempty"`
	MaxAttempts   int    `json:"max_attempts"`
	AttemptsInRun int    `json:"attempts_in_run"`
	// CooledDriverIDs were offered the order in this run: never again in it.
	CooledDriverIDs []string `json:"cooled_driver_ids"`
	EscalatedAt     string   `json:"escalated_at,omitempty"`
	// EscalationReason: max_attempts or deadline.
	EscalationReason string `json:"escalation_reason,omitempty"`
	// StoppedReason: why an admin's hand or a cancel ended the run.
	StoppedReason string            `json:"stopped_reason,omitempty"`
	EndedAt       string            `json:"ended_at,omitempty"`
	Attempts      []DispatchAttempt `json:"attempts"`
}

// DispatchAttempt is one offer of an automatic dispatch.
type DispatchAttempt struct {
	Run       int64   `json:"run"`
	DriverID  string  `json:"driver_id"`
	DistanceM float64 `json:"distance_m"`
	Score     float64 `json:"score"`
	RadiusM   float64 `json:"radius_m"`
	OfferID   string  `json:"offer_id"`
	OfferedAt string  `json:"offered_at"`
	ExpiresAt string  `json:"expires_at"`
	DecidedAt string  `json:"decided_at,omitempty"`
	// Outcome: open, accepted, declined, expired, unassigned or cancelled.
	Outcome string `json:"outcome"`
	// Considered is how many drivers the round's search returned;
	// Candidates those it ranked, best first.
	Considered int                 `json:"considered"`
	Candidates []DispatchCandidate `json:"candidates"`
}

// DispatchCandidate is a driver a dispatch round ranked.
type DispatchCandidate struct {
	DriverID  string  `json:"driver_id"`
	DistanceM float64 `json:"distance_m"`
	Score     float64 `json:"score"`
}

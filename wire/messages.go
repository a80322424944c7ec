package wire

import "encoding/json"

// The JSON bodies of the bus messages. Field names and tags are the
// protocol between nodes of different releases, as the subjects are.

// OrderEvent is the body of an order event on OrderSubject, the outbox
// payload the relay publishes: which event, its place in the order's
// journal, who caused it and the order as it stood after it (actors/order
// calls it order.Published).
type OrderEvent struct {
	// ID is OrderEventID(OrderID, Seq), also the event's NATS message id.
	ID      string `json:"id"`
	Type    string `json:"type"` // "order.created", "order.assigned", …
	OrderID string `json:"order_id"`
	Seq     int64  `json:"seq"`
	At      string `json:"at"` // RFC 3339 UTC, millisecond precision
	By      By     `json:"by"`
	Order   Order  `json:"order"`
}

// By names who caused an order event.
type By struct {
	UserID string `json:"user_id"`
	Role   string `json:"role"`
}

// Job events, on the driver's user channel.
const (
	JobOffered   = "job.offered"
	JobWithdrawn = "job.withdrawn"
)

// Job is the body of a message on JobSubject and the data of the
// job.offered and job.withdrawn events a driver's sockets receive on
// user:{id}.
type Job struct {
	// ID is the job message's id, JobEventID: a job travels to the
	// gateway two ways (see JobLiveSubject) and the gateway passes the
	// first copy of each id to the driver's sockets.
	ID       string `json:"id"`
	Event    string `json:"event"` // JobOffered or JobWithdrawn
	DriverID string `json:"driver_id"`
	OrderID  string `json:"order_id"`
	OfferID  string `json:"offer_id"`
	// Offered: when the offer lapses, where to go, and how far the
	// driver was from the pickup when offered (null when unknown).
	ExpiresAt string   `json:"expires_at,omitempty"`
	Pickup    *Place   `json:"pickup,omitempty"`
	Dropoff   *Place   `json:"dropoff,omitempty"`
	DistanceM *float64 `json:"distance_m,omitempty"`
	// Withdrawn: why — "expired", "unassigned" or "cancelled".
	Reason string `json:"reason,omitempty"`
	At     string `json:"at"`
}

// Position is where a driver was, the part every location shape shares.
// Each channel embeds it in an envelope of its own, and they differ only
// there (changing one would break its readers, so they stay):
//
//   - the bus (Fix): {"driver_id", position…, "ts_ms": unix milliseconds};
//   - the WebSocket location frame: {"type": "location", "channel",
//     "driver_id", position…, "ts": RFC 3339 UTC, milliseconds};
//   - GET /v1/orders/{id}/track's items: {position…, "at": RFC 3339 UTC,
//     milliseconds}, the driver named once beside them as "driver_id".
type Position struct {
	Lat      float64  `json:"lat"`
	Lng      float64  `json:"lng"`
	Heading  *float64 `json:"heading,omitempty"`  // degrees, 0..360
	Speed    *float64 `json:"speed,omitempty"`    // m/s
	Accuracy *float64 `json:"accuracy,omitempty"` // metres
}

// Fix is the body of a driver's live position on LocationSubject: one
// fix the driver actor accepted.
type Fix struct {
	DriverID string `json:"driver_id"`
	Position
	TsMs int64 `json:"ts_ms"` // when the phone took it, unix milliseconds
}

// DriverState is a driver as the `fleet` channel shows him: the body of
// each {"type":"driver","channel":"fleet"} frame, after the envelope. Lat,
// Lng and At (RFC 3339 UTC) are the last known position, absent when
// there is none. On wire.FleetDriverSubject the driver actor fills only
// DriverID, Available and Capacity (it does not know the orders its
// driver holds) and an order actor only DriverID: the gateway sends the
// driver's read-model row instead.
type DriverState struct {
	DriverID     string   `json:"driver_id"`
	Status       string   `json:"status"` // offline | available | busy
	Available    bool     `json:"available"`
	Capacity     int      `json:"capacity"`
	ActiveOrders int      `json:"active_orders"`
	Lat          *float64 `json:"lat,omitempty"`
	Lng          *float64 `json:"lng,omitempty"`
	At           string   `json:"at,omitempty"`
}

// Inbox operations: deliver a frame, or end sessions whose tokens were
// revoked or that a newer session evicted (the gateway picks the close
// code).
const (
	OpPush   = "push"
	OpRevoke = "revoke"
	// OpEvict ends sessions a newer one pushed over the user's cap.
	OpEvict = "evict"
)

// InboxMessage is the body of what a user actor sends to a node's gateway
// on InboxSubject.
type InboxMessage struct {
	Op         string   `json:"op"` // OpPush or OpRevoke
	UserID     string   `json:"user_id"`
	SessionIDs []string `json:"session_ids"`
	Frame      []byte   `json:"frame,omitempty"`  // push: the frame to send
	Reason     string   `json:"reason,omitempty"` // revoke: why
}

// Frame is any frame the WebSocket gateway sends (DESIGN.md §4), as a
// client decodes it: the members of every server frame type side by
// side, each absent from the frames that do not carry it. Data is an
// event's data (for order channels a wire.OrderEvent), left undecoded.
type Frame struct {
	Type    string          `json:"type"` // event, ack, error, pong, location, …
	ID      string          `json:"id"`   // ack and error: the client frame's id
	Channel string          `json:"channel"`
	Seq     int64           `json:"seq"`
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data"`
	At      string          `json:"at"`
	Code    string          `json:"code"` // error frames
	Message string          `json:"message"`
}

// TokenRevocation is the body of a TokenRevocations message: the access
// tokens of UserID issued before BeforeMs (unix milliseconds) are revoked.
type TokenRevocation struct {
	UserID   string `json:"user_id"`
	BeforeMs int64  `json:"before_ms"`
}

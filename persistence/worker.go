package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/outrider/outrider/actors"
)

// ErrWebhookNotFound: no webhook endpoint with that id.
var ErrWebhookNotFound = errors.New("webhook not found")

// Notification is something a user should hear of, created by the worker
// from a domain event. (UserID, EventID) is unique: a redelivered event
// creates no second notification.
type Notification struct {
	ID      string // time-ordered (ULID): newest first is id descending
	UserID  string
	Type    string // the event type, e.g. "order.status_changed"
	EventID string // the domain event it came from
	Payload json.RawMessage
	// ReadAt is nil while unread.
	ReadAt    *time.Time
	CreatedAt time.Time
}

// NotificationFilter selects one user's notifications, newest first.
type NotificationFilter struct {
	UserID     string
	UnreadOnly bool
	Limit      int
	// After is the last id of the previous page.
	After string
}

// Notifications is the notification inbox the worker writes and users read.
type Notifications interface {
	// CreateNotifications inserts ns, skipping any whose (UserID, EventID)
	// exists already, and returns the ones it inserted (in input order).
	CreateNotifications(ctx context.Context, ns []Notification) ([]Notification, error)
	// ListNotifications returns at most f.Limit notifications of f.UserID
	// and whether more follow.
	ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, bool, error)
	// MarkNotificationRead marks one of userID's notifications read at at
	// (a read one keeps its first ReadAt). ErrNotFound when userID has no
	// notification with that id — including another user's.
	MarkNotificationRead(ctx context.Context, userID, id string, at time.Time) error
	// MarkAllNotificationsRead marks every unread notification of userID
	// read and returns how many it marked.
	MarkAllNotificationsRead(ctx context.Context, userID string, at time.Time) (int, error)
	// MarkProcessed records that consumer handled message id and reports
	// whether this is the first time: a worker's guard for side effects
	// with no natural key (e-mail).
	MarkProcessed(ctx context.Context, consumer, id string, at time.Time) (bool, error)
	// Processed reports whether consumer marked message id processed: the
	// check before a side effect that is marked only once it happened.
	Processed(ctx context.Context, consumer, id string) (bool, error)
	// TrimProcessed forgets marks made before before, and says how many.
	TrimProcessed(ctx context.Context, before time.Time) (int, error)
}

// Webhook is an endpoint an admin registered for some event types.
type Webhook struct {
	ID          string
	URL         string
	Description string
	// Secret signs deliveries; shown to the admin once, at creation.
	Secret string
	// EventTypes the endpoint receives; "*" means all.
	EventTypes []string
	Enabled    bool
	// ConsecutiveFailures counts failed attempts since the last success;
	// the endpoint is disabled when it reaches the limit.
	ConsecutiveFailures int
	// DisabledReason says why the worker disabled it ("" when enabled or
	// disabled by an admin).
	DisabledReason string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// WebhookAttempt is one recorded delivery attempt.
type WebhookAttempt struct {
	ID         string // time-ordered (ULID)
	WebhookID  string
	DeliveryID string // stable across the attempts of one delivery
	EventID    string
	EventType  string
	Attempt    int  // 1 for the first
	Success    bool // a 2xx answer
	StatusCode int  // 0 when no answer came
	Error      string
	// ResponseSnippet is the start of the answer's body.
	ResponseSnippet string
	DurationMS      int64
	At              time.Time
}

// WebhookPage selects webhooks or attempts, oldest first for webhooks and
// newest first for attempts; After is the last id of the previous page.
type WebhookPage struct {
	Limit int
	After string
}

// Webhooks stores webhook endpoints and their delivery attempts.
type Webhooks interface {
	CreateWebhook(ctx context.Context, w Webhook) error
	// GetWebhook returns ErrWebhookNotFound for an unknown id.
	GetWebhook(ctx context.Context, id string) (Webhook, error)
	ListWebhooks(ctx context.Context, p WebhookPage) ([]Webhook, bool, error)
	// UpdateWebhook replaces URL, Description, EventTypes and Enabled of
	// w.ID at w.UpdatedAt. Enabling an endpoint resets its failure count
	// and DisabledReason. ErrWebhookNotFound for an unknown id.
	UpdateWebhook(ctx context.Context, w Webhook) (Webhook, error)
	// DeleteWebhook removes the endpoint and its attempts;
	// ErrWebhookNotFound for an unknown id.
	DeleteWebhook(ctx context.Context, id string) error
	// WebhooksFor returns the enabled endpoints subscribed to eventType
	// (listing it or "*").
	WebhooksFor(ctx context.Context, eventType string) ([]Webhook, error)
	// RecordWebhookAttempt stores a, and in the same transaction resets
	// the endpoint's failure count on success or increments it on
	// failure, disabling the endpoint (reason given) when the count
	// reaches failureLimit (> 0). It returns the endpoint as updated;
	// ErrWebhookNotFound if it was deleted meanwhile.
	RecordWebhookAttempt(ctx context.Context, a WebhookAttempt, failureLimit int) (Webhook, error)
	// CountWebhookAttempts counts the recorded attempts of one delivery.
	CountWebhookAttempts(ctx context.Context, webhookID, deliveryID string) (int, error)
	// ListWebhookAttempts returns at most p.Limit attempts of webhookID,
	// newest first, and whether more follow.
	ListWebhookAttempts(ctx context.Context, webhookID string, p WebhookPage) ([]WebhookAttempt, bool, error)
	// TrimWebhookAttempts deletes attempts whose id sorts before beforeID
	// (ids are time-ordered, so: older attempts), and says how many.
	TrimWebhookAttempts(ctx context.Context, beforeID string) (int, error)
}

// MarshalJSON is a notification as the API and the user channel show it:
// {id, type, event_id, payload, read, read_at, created_at}.
func (n Notification) MarshalJSON() ([]byte, error) {
	var readAt *string
	if n.ReadAt != nil {
		s := actors.Timestamp(*n.ReadAt)
		readAt = &s
	}
	payload := n.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	return json.Marshal(struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		EventID   string          `json:"event_id"`
		Payload   json.RawMessage `json:"payload"`
		Read      bool            `json:"read"`
		ReadAt    *string         `json:"read_at"`
		CreatedAt string          `json:"created_at"`
	}{n.ID, n.Type, n.EventID, payload, n.ReadAt != nil, readAt, actors.Timestamp(n.CreatedAt)})
}

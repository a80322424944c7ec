package persistence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/outrider/outrider/wire"
)

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

// MarshalJSON is a notification as the API and the user channel show it:
// {id, type, event_id, payload, read, read_at, created_at}.
func (n Notification) MarshalJSON() ([]byte, error) {
	var readAt *string
	if n.ReadAt != nil {
		s := wire.Timestamp(*n.ReadAt)
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
	}{n.ID, n.Type, n.EventID, payload, n.ReadAt != nil, readAt, wire.Timestamp(n.CreatedAt)})
}

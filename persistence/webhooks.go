package persistence

import (
	"context"
	"errors"
	"time"
)

// ErrWebhookNotFound: no webhook endpoint with that id.
var ErrWebhookNotFound = errors.New("webhook not found")

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

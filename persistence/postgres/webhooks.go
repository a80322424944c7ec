package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/persistence"
)

// This file implements persistence.Webhooks, the endpoints and delivery
// attempts of the webhook worker (migration 00006).

const webhookColumns = `id, url, description, secret, event_types, enabled, consecutive_failures,
	disabled_reason, created_at, updated_at`

func scanWebhook(row pgx.Row) (persistence.Webhook, error) {
	var w persistence.Webhook
	err := row.Scan(&w.ID, &w.URL, &w.Description, &w.Secret, &w.EventTypes, &w.Enabled,
		&w.ConsecutiveFailures, &w.DisabledReason, &w.CreatedAt, &w.UpdatedAt)
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	return w, err
}

func collectWebhooks(rows pgx.Rows) ([]persistence.Webhook, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (persistence.Webhook, error) { return scanWebhook(r) })
}

func webhookNotFound(id string) error {
	return fmt.Errorf("webhook %q: %w", id, persistence.ErrWebhookNotFound)
}

// eventTypes binds a list of event types to a NOT NULL text[]: nil is
// stored as an empty list (subscribed to nothing).
func eventTypes(ts []string) []string {
	if ts == nil {
		return []string{}
	}
	return ts
}

// CreateWebhook stores w as given, failure count and reason included.
func (s *Store) CreateWebhook(ctx context.Context, w persistence.Webhook) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO webhooks (`+webhookColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		w.ID, w.URL, w.Description, w.Secret, eventTypes(w.EventTypes), w.Enabled,
		w.ConsecutiveFailures, w.DisabledReason, w.CreatedAt, w.UpdatedAt)
	if err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	return nil
}

// GetWebhook returns the endpoint id, secret included, or an error
// wrapping persistence.ErrWebhookNotFound.
func (s *Store) GetWebhook(ctx context.Context, id string) (persistence.Webhook, error) {
	w, err := scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return persistence.Webhook{}, webhookNotFound(id)
	}
	if err != nil {
		return persistence.Webhook{}, fmt.Errorf("get webhook %s: %w", id, err)
	}
	return w, nil
}

// ListWebhooks returns endpoints oldest first (id ascending), at most
// p.Limit (DefaultLimit if unset), and whether more follow.
func (s *Store) ListWebhooks(ctx context.Context, p persistence.WebhookPage) ([]persistence.Webhook, bool, error) {
	n := limit(p.Limit)
	rows, err := s.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks
		WHERE id > $1 ORDER BY id LIMIT `+strconv.Itoa(n+1), p.After)
	if err != nil {
		return nil, false, fmt.Errorf("list webhooks: %w", err)
	}
	out, err := collectWebhooks(rows)
	if err != nil {
		return nil, false, fmt.Errorf("list webhooks: %w", err)
	}
	if len(out) > n {
		return out[:n], true, nil
	}
	return out, false, nil
}

// UpdateWebhook replaces w.ID's URL, Description, EventTypes and Enabled
// and stamps UpdatedAt; the other fields of w are ignored. Enabling a
// disabled endpoint resets its failure count and DisabledReason (an
// endpoint that stays enabled keeps its count). It returns the endpoint as
// updated, or an error wrapping persistence.ErrWebhookNotFound.
func (s *Store) UpdateWebhook(ctx context.Context, w persistence.Webhook) (persistence.Webhook, error) {
	got, err := scanWebhook(s.pool.QueryRow(ctx, `UPDATE webhooks SET url = $2, description = $3,
			event_types = $4, enabled = $5, updated_at = $6,
			consecutive_failures = CASE WHEN $5 AND NOT enabled THEN 0 ELSE consecutive_failures END,
			disabled_reason = CASE WHEN $5 AND NOT enabled THEN '' ELSE disabled_reason END
		WHERE id = $1 RETURNING `+webhookColumns,
		w.ID, w.URL, w.Description, eventTypes(w.EventTypes), w.Enabled, w.UpdatedAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return persistence.Webhook{}, webhookNotFound(w.ID)
	}
	if err != nil {
		return persistence.Webhook{}, fmt.Errorf("update webhook %s: %w", w.ID, err)
	}
	return got, nil
}

// DeleteWebhook removes the endpoint id and, by cascade, its attempts; an
// unknown id is an error wrapping persistence.ErrWebhookNotFound.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return webhookNotFound(id)
	}
	return nil
}

// WebhooksFor returns the enabled endpoints whose event types list
// eventType or "*", oldest first.
func (s *Store) WebhooksFor(ctx context.Context, eventType string) ([]persistence.Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks
		WHERE enabled AND event_types && ARRAY[$1, '*']::text[] ORDER BY id`, eventType)
	if err != nil {
		return nil, fmt.Errorf("webhooks for %s: %w", eventType, err)
	}
	out, err := collectWebhooks(rows)
	if err != nil {
		return nil, fmt.Errorf("webhooks for %s: %w", eventType, err)
	}
	return out, nil
}

// sqlRecordAttempt updates the endpoint and inserts the attempt in one
// statement (one implicit transaction). The update's row lock orders it
// against a concurrent update or delete of the endpoint; the attempt is
// inserted only if the endpoint was found. Every expression of SET reads
// the row as it was, so "disabling" below means "enabled and this failure
// reaches the limit": only the attempt that disables an endpoint sets its
// reason and updated_at, and one disabled by an admin keeps reason "".
// The limit test stays in SQL because it must read the count in this
// transaction; the reason's wording is persistence.WebhookDisabledReason.
const sqlRecordAttempt = `
WITH w AS (
	UPDATE webhooks SET
		consecutive_failures = CASE WHEN $7 THEN 0 ELSE consecutive_failures + 1 END,
		enabled = enabled AND ($7 OR consecutive_failures + 1 < $13),
		disabled_reason = CASE WHEN enabled AND NOT $7 AND consecutive_failures + 1 >= $13
			THEN $14 ELSE disabled_reason END,
		updated_at = CASE WHEN enabled AND NOT $7 AND consecutive_failures + 1 >= $13
			THEN $12 ELSE updated_at END
	WHERE id = $2
	RETURNING ` + webhookColumns + `
), a AS (
	INSERT INTO webhook_attempts (id, webhook_id, delivery_id, event_id, event_type, attempt, success,
		status_code, error, response_snippet, duration_ms, at)
	SELECT $1, w.id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM w
)
SELECT ` + webhookColumns + ` FROM w`

// RecordWebhookAttempt stores a and updates its endpoint in the same
// transaction: a success resets the failure count, a failure increments
// it and, reaching failureLimit, disables the endpoint with a reason
// naming the count and the last failure, stamping
// UpdatedAt with a.At. Attempts on an endpoint already disabled still
// count but keep its reason. It returns the endpoint as updated, or an
// error wrapping persistence.ErrWebhookNotFound if it is gone.
func (s *Store) RecordWebhookAttempt(ctx context.Context, a persistence.WebhookAttempt, failureLimit int) (persistence.Webhook, error) {
	if failureLimit <= 0 {
		return persistence.Webhook{}, fmt.Errorf("record webhook attempt: failure limit %d, want > 0", failureLimit)
	}
	w, err := scanWebhook(s.pool.QueryRow(ctx, sqlRecordAttempt,
		a.ID, a.WebhookID, a.DeliveryID, a.EventID, a.EventType, a.Attempt, a.Success,
		a.StatusCode, a.Error, a.ResponseSnippet, a.DurationMS, a.At,
		failureLimit, persistence.WebhookDisabledReason(failureLimit, a)))
	if errors.Is(err, pgx.ErrNoRows) {
		return persistence.Webhook{}, webhookNotFound(a.WebhookID)
	}
	if err != nil {
		return persistence.Webhook{}, fmt.Errorf("record webhook attempt %s: %w", a.ID, err)
	}
	return w, nil
}

// CountWebhookAttempts counts the recorded attempts of one delivery.
func (s *Store) CountWebhookAttempts(ctx context.Context, webhookID, deliveryID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_attempts WHERE webhook_id = $1 AND delivery_id = $2`,
		webhookID, deliveryID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count attempts of %s: %w", deliveryID, err)
	}
	return n, nil
}

// ListWebhookAttempts returns webhookID's attempts newest first (id
// descending), at most p.Limit (DefaultLimit if unset), and whether more
// follow. An unknown endpoint has none.
func (s *Store) ListWebhookAttempts(ctx context.Context, webhookID string, p persistence.WebhookPage) ([]persistence.WebhookAttempt, bool, error) {
	var w where
	w.add("webhook_id = ?", webhookID)
	if p.After != "" {
		w.add("id < ?", p.After)
	}
	n := limit(p.Limit)
	rows, err := s.pool.Query(ctx, `SELECT id, webhook_id, delivery_id, event_id, event_type, attempt, success,
		status_code, error, response_snippet, duration_ms, at FROM webhook_attempts`+w.String()+
		` ORDER BY id DESC LIMIT `+strconv.Itoa(n+1), w.args...)
	if err != nil {
		return nil, false, fmt.Errorf("list attempts of webhook %s: %w", webhookID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persistence.WebhookAttempt, error) {
		var a persistence.WebhookAttempt
		err := r.Scan(&a.ID, &a.WebhookID, &a.DeliveryID, &a.EventID, &a.EventType, &a.Attempt, &a.Success,
			&a.StatusCode, &a.Error, &a.ResponseSnippet, &a.DurationMS, &a.At)
		a.At = a.At.UTC()
		return a, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("list attempts of webhook %s: %w", webhookID, err)
	}
	if len(out) > n {
		return out[:n], true, nil
	}
	return out, false, nil
}

// TrimWebhookAttempts deletes attempts older than beforeID.
func (s *Store) TrimWebhookAttempts(ctx context.Context, beforeID string) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_attempts WHERE id < $1`, beforeID)
	if err != nil {
		return 0, fmt.Errorf("trim webhook attempts: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

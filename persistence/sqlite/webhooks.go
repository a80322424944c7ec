package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/outrider/outrider/persistence"
)

// This file implements persistence.Webhooks, the endpoints and delivery
// attempts of the webhook worker (migration 00006). Writes run on the
// single write connection, so the checks-then-writes below cannot be raced
// by another writer of this process.

const webhookColumns = `id, url, description, secret, event_types, enabled, consecutive_failures,
	disabled_reason, created_at, updated_at`

func scanWebhook(row scanner) (persistence.Webhook, error) {
	var (
		w                    persistence.Webhook
		types                string
		createdAt, updatedAt int64
	)
	err := row.Scan(&w.ID, &w.URL, &w.Description, &w.Secret, &types, &w.Enabled,
		&w.ConsecutiveFailures, &w.DisabledReason, &createdAt, &updatedAt)
	if err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(types), &w.EventTypes); err != nil {
		return w, fmt.Errorf("decode event types: %w", err)
	}
	w.CreatedAt, w.UpdatedAt = fromMicros(createdAt), fromMicros(updatedAt)
	return w, nil
}

func (s *Store) queryWebhooks(ctx context.Context, q string, args ...any) ([]persistence.Webhook, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []persistence.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

func webhookNotFound(id string) error {
	return fmt.Errorf("webhook %q: %w", id, persistence.ErrWebhookNotFound)
}

// eventTypesJSON encodes a list of event types as stored; nil is an empty
// list (subscribed to nothing), as in the Postgres backend.
func eventTypesJSON(ts []string) string {
	if ts == nil {
		ts = []string{}
	}
	b, _ := json.Marshal(ts) // a []string always marshals
	return string(b)
}

// CreateWebhook stores w as given, failure count and reason included.
func (s *Store) CreateWebhook(ctx context.Context, w persistence.Webhook) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO webhooks (`+webhookColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.URL, w.Description, w.Secret, eventTypesJSON(w.EventTypes), w.Enabled,
		w.ConsecutiveFailures, w.DisabledReason, micros(w.CreatedAt), micros(w.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	return nil
}

// GetWebhook returns the endpoint id, secret included, or an error
// wrapping persistence.ErrWebhookNotFound.
func (s *Store) GetWebhook(ctx context.Context, id string) (persistence.Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return persistence.Webhook{}, webhookNotFound(id)
	}
	if err != nil {
		return persistence.Webhook{}, fmt.Errorf("get webhook %s: %w", id, err)
	}
	return w, nil
}

// ListWebhooks returns endpoints oldest first (id ascending, bytewise), at
// most p.Limit (DefaultLimit if unset), and whether more follow.
func (s *Store) ListWebhooks(ctx context.Context, p persistence.WebhookPage) ([]persistence.Webhook, bool, error) {
	n := limit(p.Limit)
	out, err := s.queryWebhooks(ctx, `SELECT `+webhookColumns+` FROM webhooks
		WHERE id > ? ORDER BY id LIMIT `+strconv.Itoa(n+1), p.After)
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
	// SET expressions read the row as it was, as in Postgres.
	got, err := scanWebhook(s.w.QueryRowContext(ctx, `UPDATE webhooks SET url = ?1, description = ?2,
			event_types = ?3, enabled = ?4, updated_at = ?5,
			consecutive_failures = CASE WHEN ?4 AND NOT enabled THEN 0 ELSE consecutive_failures END,
			disabled_reason = CASE WHEN ?4 AND NOT enabled THEN '' ELSE disabled_reason END
		WHERE id = ?6 RETURNING `+webhookColumns,
		w.URL, w.Description, eventTypesJSON(w.EventTypes), w.Enabled, micros(w.UpdatedAt), w.ID))
	if errors.Is(err, sql.ErrNoRows) {
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
	res, err := s.w.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	} else if n == 0 {
		return webhookNotFound(id)
	}
	return nil
}

// WebhooksFor returns the enabled endpoints whose event types list
// eventType or "*", oldest first.
func (s *Store) WebhooksFor(ctx context.Context, eventType string) ([]persistence.Webhook, error) {
	out, err := s.queryWebhooks(ctx, `SELECT `+webhookColumns+` FROM webhooks
		WHERE enabled AND EXISTS (SELECT 1 FROM json_each(event_types) WHERE value IN (?, '*'))
		ORDER BY id`, eventType)
	if err != nil {
		return nil, fmt.Errorf("webhooks for %s: %w", eventType, err)
	}
	return out, nil
}

// sqlRecordAttemptUpdate is the endpoint's side of an attempt. SET reads
// the row as it was, so "disabling" below means "enabled and this failure
// reaches the limit": only the attempt that disables an endpoint sets its
// reason and updated_at, and one disabled by an admin keeps reason "".
// The limit test stays in SQL because it must read the count in this
// transaction; the reason's wording is persistence.WebhookDisabledReason.
const sqlRecordAttemptUpdate = `UPDATE webhooks SET
		consecutive_failures = CASE WHEN ?1 THEN 0 ELSE consecutive_failures + 1 END,
		enabled = enabled AND (?1 OR consecutive_failures + 1 < ?2),
		disabled_reason = CASE WHEN enabled AND NOT ?1 AND consecutive_failures + 1 >= ?2
			THEN ?3 ELSE disabled_reason END,
		updated_at = CASE WHEN enabled AND NOT ?1 AND consecutive_failures + 1 >= ?2
			THEN ?4 ELSE updated_at END
	WHERE id = ?5
	RETURNING ` + webhookColumns

// RecordWebhookAttempt stores a and updates its endpoint in one write
// transaction: a success resets the failure count, a failure increments
// it and, reaching failureLimit, disables the endpoint with a reason
// naming the count and the last failure, stamping UpdatedAt with a.At.
// Attempts on an endpoint already disabled still count but keep its
// reason. It returns the endpoint as updated, or an error wrapping
// persistence.ErrWebhookNotFound if it is gone.
func (s *Store) RecordWebhookAttempt(ctx context.Context, a persistence.WebhookAttempt, failureLimit int) (persistence.Webhook, error) {
	if failureLimit <= 0 {
		return persistence.Webhook{}, fmt.Errorf("record webhook attempt: failure limit %d, want > 0", failureLimit)
	}
	var w persistence.Webhook
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		w, err = scanWebhook(tx.QueryRowContext(ctx, sqlRecordAttemptUpdate,
			a.Success, failureLimit, persistence.WebhookDisabledReason(failureLimit, a), micros(a.At), a.WebhookID))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_attempts (id, webhook_id, delivery_id, event_id,
				event_type, attempt, success, status_code, error, response_snippet, duration_ms, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.WebhookID, a.DeliveryID, a.EventID, a.EventType, a.Attempt, a.Success,
			a.StatusCode, a.Error, a.ResponseSnippet, a.DurationMS, micros(a.At))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
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
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM webhook_attempts WHERE webhook_id = ? AND delivery_id = ?`,
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
	rows, err := s.r.QueryContext(ctx, `SELECT id, webhook_id, delivery_id, event_id, event_type, attempt, success,
		status_code, error, response_snippet, duration_ms, at FROM webhook_attempts`+w.String()+
		` ORDER BY id DESC LIMIT `+strconv.Itoa(n+1), w.args...)
	if err != nil {
		return nil, false, fmt.Errorf("list attempts of webhook %s: %w", webhookID, err)
	}
	defer rows.Close()
	out := []persistence.WebhookAttempt{}
	for rows.Next() {
		var (
			a  persistence.WebhookAttempt
			at int64
		)
		if err := rows.Scan(&a.ID, &a.WebhookID, &a.DeliveryID, &a.EventID, &a.EventType, &a.Attempt, &a.Success,
			&a.StatusCode, &a.Error, &a.ResponseSnippet, &a.DurationMS, &at); err != nil {
			return nil, false, fmt.Errorf("list attempts of webhook %s: %w", webhookID, err)
		}
		a.At = fromMicros(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("list attempts of webhook %s: %w", webhookID, err)
	}
	if len(out) > n {
		return out[:n], true, nil
	}
	return out, false, nil
}

// TrimWebhookAttempts deletes attempts older than beforeID.
func (s *Store) TrimWebhookAttempts(ctx context.Context, beforeID string) (int, error) {
	return s.trim(ctx, `DELETE FROM webhook_attempts WHERE id < ?`, beforeID)
}

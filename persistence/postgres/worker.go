package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/outrider/outrider/persistence"
)

// This file implements persistence.Notifications and persistence.Webhooks,
// the tables of the notification worker (migration 00006).

const notificationColumns = `id, user_id, type, event_id, payload, read_at, created_at`

func scanNotification(row pgx.Row) (persistence.Notification, error) {
	var n persistence.Notification
	if err := row.Scan(&n.ID, &n.UserID, &n.Type, &n.EventID, &n.Payload, &n.ReadAt, &n.CreatedAt); err != nil {
		return n, err
	}
	if n.ReadAt != nil {
		t := n.ReadAt.UTC()
		n.ReadAt = &t
	}
	n.CreatedAt = n.CreatedAt.UTC()
	return n, nil
}

// payloadText is a notification's payload as bound to a jsonb parameter:
// a nil payload is JSON null. jsonb normalises what it stores (spacing,
// key order), so a payload reads back equivalent, not byte for byte.
func payloadText(p []byte) string {
	if len(p) == 0 {
		return "null"
	}
	return string(p)
}

// CreateNotifications inserts ns in one statement, skipping those whose
// (UserID, EventID) exists already — stored before or earlier in ns — and
// returns the inserted ones in input order. Concurrent calls with
// overlapping input insert each notification once: rows are inserted in
// (UserID, EventID) order, so two calls never wait on each other's rows
// in opposite orders (a deadlock). An id that another notification holds
// is an error, and nothing of ns is written.
func (s *Store) CreateNotifications(ctx context.Context, ns []persistence.Notification) ([]persistence.Notification, error) {
	if len(ns) == 0 {
		return []persistence.Notification{}, nil
	}
	sorted := slices.Clone(ns)
	slices.SortStableFunc(sorted, func(a, b persistence.Notification) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.EventID, b.EventID))
	})
	var (
		ids, users, types, events, payloads = make([]string, len(ns)), make([]string, len(ns)),
			make([]string, len(ns)), make([]string, len(ns)), make([]string, len(ns))
		readAts    = make([]*time.Time, len(ns))
		createdAts = make([]time.Time, len(ns))
	)
	for i, n := range sorted {
		ids[i], users[i], types[i], events[i], payloads[i] = n.ID, n.UserID, n.Type, n.EventID, payloadText(n.Payload)
		readAts[i], createdAts[i] = n.ReadAt, n.CreatedAt
	}
	insertedIDs, err := s.insertNotifications(ctx, ids, users, types, events, payloads, readAts, createdAts)
	if err != nil {
		return nil, fmt.Errorf("create notifications: %w", err)
	}
	// An id is inserted at most once (it is the primary key), so the ids
	// returned pick out the inserted inputs.
	inserted := make(map[string]bool, len(insertedIDs))
	for _, id := range insertedIDs {
		inserted[id] = true
	}
	out := make([]persistence.Notification, 0, len(insertedIDs))
	for _, n := range ns {
		if inserted[n.ID] {
			out = append(out, n)
			delete(inserted, n.ID) // a later duplicate of n was skipped
		}
	}
	return out, nil
}

const sqlInsertNotifications = `INSERT INTO notifications (` + notificationColumns + `)
	SELECT id, user_id, type, event_id, payload::jsonb, read_at, created_at
	  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
	       WITH ORDINALITY AS v(id, user_id, type, event_id, payload, read_at, created_at, ord)
	 ORDER BY ord
	ON CONFLICT (user_id, event_id) DO NOTHING
	RETURNING id`

// insertNotifications runs sqlInsertNotifications and returns the ids
// inserted. A concurrent call inserting the same notification can make
// this one collide on the primary key, which is not the arbiter of ON
// CONFLICT, before it sees the (user_id, event_id) conflict. Postgres
// raises that only once the other transaction has ended, so a retry finds
// the row and skips it; an id taken by another notification fails every
// time, and the statement writes nothing.
func (s *Store) insertNotifications(ctx context.Context, args ...any) ([]string, error) {
	for attempt := 1; ; attempt++ {
		rows, err := s.pool.Query(ctx, sqlInsertNotifications, args...)
		if err != nil {
			return nil, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		var pgErr *pgconn.PgError
		if attempt < 3 && errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation &&
			pgErr.ConstraintName == "notifications_pkey" {
			continue
		}
		return ids, err
	}
}

// ListNotifications returns f.UserID's notifications newest first (id
// descending), only unread ones if f.UnreadOnly, at most f.Limit
// (DefaultLimit if unset), and whether more follow.
func (s *Store) ListNotifications(ctx context.Context, f persistence.NotificationFilter) ([]persistence.Notification, bool, error) {
	var w where
	w.add("user_id = ?", f.UserID)
	if f.UnreadOnly {
		w.conds = append(w.conds, "read_at IS NULL")
	}
	if f.After != "" {
		w.add("id < ?", f.After)
	}
	n := limit(f.Limit)
	rows, err := s.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications`+w.String()+
		` ORDER BY id DESC LIMIT `+strconv.Itoa(n+1), w.args...)
	if err != nil {
		return nil, false, fmt.Errorf("list notifications of %s: %w", f.UserID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persistence.Notification, error) {
		return scanNotification(r)
	})
	if err != nil {
		return nil, false, fmt.Errorf("list notifications of %s: %w", f.UserID, err)
	}
	if len(out) > n {
		return out[:n], true, nil
	}
	return out, false, nil
}

// MarkNotificationRead marks userID's notification id read at at; one
// read already keeps its first read time and is not rewritten. Another
// user's notification is persistence.ErrNotFound, as an unknown one.
func (s *Store) MarkNotificationRead(ctx context.Context, userID, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET read_at = $3
		WHERE id = $1 AND user_id = $2 AND read_at IS NULL`, id, userID, at)
	if err != nil {
		return fmt.Errorf("mark notification %s read: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM notifications WHERE id = $1 AND user_id = $2)`,
		id, userID).Scan(&exists); err != nil {
		return fmt.Errorf("mark notification %s read: %w", id, err)
	}
	if !exists {
		return notFound("notification", id)
	}
	return nil
}

// MarkAllNotificationsRead marks userID's unread notifications read at at
// and returns how many.
func (s *Store) MarkAllNotificationsRead(ctx context.Context, userID string, at time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL`,
		userID, at)
	if err != nil {
		return 0, fmt.Errorf("mark notifications of %s read: %w", userID, err)
	}
	return int(tag.RowsAffected()), nil
}

// MarkProcessed records (consumer, id) and reports whether it was new; of
// concurrent callers exactly one gets true (the primary key decides).
func (s *Store) MarkProcessed(ctx context.Context, consumer, id string, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO processed_messages (consumer, id, at) VALUES ($1, $2, $3)
		ON CONFLICT (consumer, id) DO NOTHING`, consumer, id, at)
	if err != nil {
		return false, fmt.Errorf("mark %s processed by %s: %w", id, consumer, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Processed reports whether consumer marked id processed.
func (s *Store) Processed(ctx context.Context, consumer, id string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM processed_messages WHERE consumer = $1 AND id = $2)`,
		consumer, id).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("is %s processed by %s: %w", id, consumer, err)
	}
	return ok, nil
}

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

// TrimProcessed forgets marks made before before.
func (s *Store) TrimProcessed(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM processed_messages WHERE at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("trim processed messages: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// TrimWebhookAttempts deletes attempts older than beforeID.
func (s *Store) TrimWebhookAttempts(ctx context.Context, beforeID string) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_attempts WHERE id < $1`, beforeID)
	if err != nil {
		return 0, fmt.Errorf("trim webhook attempts: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

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

// This file implements persistence.Notifications, the notification
// worker's inbox and processed-message marks (migration 00006); webhooks.go
// implements persistence.Webhooks.

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

// TrimProcessed forgets marks made before before.
func (s *Store) TrimProcessed(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM processed_messages WHERE at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("trim processed messages: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

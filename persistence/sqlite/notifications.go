package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/outrider/outrider/persistence"
)

// This file implements persistence.Notifications, the notification
// worker's inbox and processed-message marks (migration 00006); webhooks.go
// implements persistence.Webhooks. Writes run on the single write
// connection, so the checks-then-writes below cannot be raced by another
// writer of this process.

const notificationColumns = `id, user_id, type, event_id, payload, read_at, created_at`

func scanNotification(row scanner) (persistence.Notification, error) {
	var (
		n         persistence.Notification
		payload   string
		readAt    sql.NullInt64
		createdAt int64
	)
	if err := row.Scan(&n.ID, &n.UserID, &n.Type, &n.EventID, &payload, &readAt, &createdAt); err != nil {
		return n, err
	}
	n.Payload = json.RawMessage(payload)
	n.ReadAt, n.CreatedAt = fromNullMicros(readAt), fromMicros(createdAt)
	return n, nil
}

// payloadText is a notification's payload as stored: a nil payload is JSON
// null. SQLite keeps the text byte for byte.
func payloadText(p []byte) string {
	if len(p) == 0 {
		return "null"
	}
	return string(p)
}

// CreateNotifications inserts ns in one write transaction, skipping those
// whose (UserID, EventID) exists already — stored before or earlier in ns
// — and returns the inserted ones in input order. An id that another
// notification holds is an error, and nothing of ns is written.
func (s *Store) CreateNotifications(ctx context.Context, ns []persistence.Notification) ([]persistence.Notification, error) {
	out := []persistence.Notification{}
	if len(ns) == 0 {
		return out, nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO notifications (`+notificationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, event_id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, n := range ns {
			res, err := ins.ExecContext(ctx, n.ID, n.UserID, n.Type, n.EventID, payloadText(n.Payload),
				nullMicros(n.ReadAt), micros(n.CreatedAt))
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err != nil {
				return err
			} else if k == 1 {
				out = append(out, n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create notifications: %w", err)
	}
	return out, nil
}

// ListNotifications returns f.UserID's notifications newest first (id
// descending), only unread ones if f.UnreadOnly, at most f.Limit
// (DefaultLimit if unset), and whether more follow.
func (s *Store) ListNotifications(ctx context.Context, f persistence.NotificationFilter) ([]persistence.Notification, bool, error) {
	var w where
	w.add("user_id = ?", f.UserID)
	if f.UnreadOnly {
		w.add("read_at IS NULL")
	}
	if f.After != "" {
		w.add("id < ?", f.After)
	}
	n := limit(f.Limit)
	rows, err := s.r.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications`+w.String()+
		` ORDER BY id DESC LIMIT `+strconv.Itoa(n+1), w.args...)
	if err != nil {
		return nil, false, fmt.Errorf("list notifications of %s: %w", f.UserID, err)
	}
	defer rows.Close()
	out := []persistence.Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, false, fmt.Errorf("list notifications of %s: %w", f.UserID, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("list notifications of %s: %w", f.UserID, err)
	}
	if len(out) > n {
		return out[:n], true, nil
	}
	return out, false, nil
}

// MarkNotificationRead marks userID's notification id read at at; one
// read already keeps its first read time. Another user's notification is
// persistence.ErrNotFound, as an unknown one.
func (s *Store) MarkNotificationRead(ctx context.Context, userID, id string, at time.Time) error {
	var exists bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM notifications WHERE id = ? AND user_id = ?)`,
			id, userID).Scan(&exists); err != nil || !exists {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE notifications SET read_at = ? WHERE id = ? AND read_at IS NULL`,
			micros(at), id)
		return err
	})
	if err != nil {
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
	res, err := s.w.ExecContext(ctx, `UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL`,
		micros(at), userID)
	if err != nil {
		return 0, fmt.Errorf("mark notifications of %s read: %w", userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("mark notifications of %s read: %w", userID, err)
	}
	return int(n), nil
}

// MarkProcessed records (consumer, id) and reports whether it was new; of
// concurrent callers exactly one gets true (writes are serialised).
func (s *Store) MarkProcessed(ctx context.Context, consumer, id string, at time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO processed_messages (consumer, id, at) VALUES (?, ?, ?)
		ON CONFLICT (consumer, id) DO NOTHING`, consumer, id, micros(at))
	if err != nil {
		return false, fmt.Errorf("mark %s processed by %s: %w", id, consumer, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark %s processed by %s: %w", id, consumer, err)
	}
	return n == 1, nil
}

// Processed reports whether consumer marked id processed.
func (s *Store) Processed(ctx context.Context, consumer, id string) (bool, error) {
	var ok bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM processed_messages WHERE consumer = ? AND id = ?)`,
		consumer, id).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("is %s processed by %s: %w", id, consumer, err)
	}
	return ok, nil
}

// TrimProcessed forgets marks made before before.
func (s *Store) TrimProcessed(ctx context.Context, before time.Time) (int, error) {
	return s.trim(ctx, `DELETE FROM processed_messages WHERE at < ?`, micros(before))
}

func (s *Store) trim(ctx context.Context, q string, arg any) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, arg)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("trim: %w", err)
	}
	return int(n), nil
}

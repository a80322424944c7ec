package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/outrider/outrider/actors"
)

// Statements of a commit's redactions and erasures (actors.Redaction,
// actors.UserErasure), run after everything else of the commit: its own
// journal event, the fence, is already written.
const (
	sqlRedactEvent    = `UPDATE journal SET payload = ?4 WHERE kind = ?1 AND entity_id = ?2 AND seq = ?3`
	sqlPurgeJournal   = `DELETE FROM journal WHERE kind = ?1 AND entity_id = ?2 AND seq < ?3`
	sqlRedactTimeline = `UPDATE order_timeline SET metadata = ?3 WHERE order_id = ?1 AND seq = ?2`
	sqlRedactOutbox   = `UPDATE outbox SET payload = ?2 WHERE id = ?1`
	// A range on event_id (notifications_event_idx) is its prefix: no
	// LIKE, which SQLite compares ignoring ASCII case.
	sqlOrderNotifications = `DELETE FROM notifications WHERE event_id >= ?1 AND event_id < ?1 || char(1114111)`
	// The failed-login counts are keyed by the e-mail (throttle.go:
	// "<kind>:<e-mail>" or "<kind>:<e-mail>|<address>", whatever the
	// kind): they go before the row forgets it.
	sqlEraseLoginFailures = `DELETE FROM login_failures
		WHERE substr(substr(key, instr(key, ':') + 1) || '|', 1, length((SELECT email FROM users WHERE id = ?1) || '|'))
		      = (SELECT email FROM users WHERE id = ?1) || '|'`
	sqlEraseUser = `UPDATE users SET email = 'erased:' || id, email_key = 'erased:' || id, name = '', phone = '',
		password_hash = '', active = 0, erased_at = ?2 WHERE id = ?1`
	sqlEraseRefreshTokens = `DELETE FROM refresh_tokens WHERE user_id = ?1`
	sqlEraseNotifications = `DELETE FROM notifications WHERE user_id = ?1`
	sqlEraseLocations     = `DELETE FROM location_history WHERE driver_id = ?1`
	sqlEraseResets        = `DELETE FROM password_resets WHERE user_id = ?1`
	sqlEraseLastLocation  = `UPDATE drivers SET last_lat = NULL, last_lng = NULL, last_location_at = NULL WHERE id = ?1`
)

// eraseTx runs c's redactions and erasures in tx.
func eraseTx(ctx context.Context, tx *sql.Tx, c actors.Commit) error {
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	for _, r := range c.Redactions {
		for _, e := range r.Journal {
			if err := exec(sqlRedactEvent, r.Kind, r.EntityID, e.Seq, nonNil(e.Payload)); err != nil {
				return err
			}
		}
		if r.PurgeBefore > 0 {
			if err := exec(sqlPurgeJournal, r.Kind, r.EntityID, r.PurgeBefore); err != nil {
				return err
			}
		}
		for _, t := range r.Timeline {
			md := t.Metadata
			if md == nil {
				md = map[string]string{}
			}
			b, err := json.Marshal(md)
			if err != nil {
				return fmt.Errorf("encode timeline metadata: %w", err)
			}
			if err := exec(sqlRedactTimeline, t.OrderID, t.Seq, string(b)); err != nil {
				return err
			}
		}
		for _, m := range r.Outbox {
			if err := exec(sqlRedactOutbox, m.ID, nonNil(m.Payload)); err != nil {
				return err
			}
		}
		if r.Order {
			if err := exec(sqlOrderNotifications, "order:"+r.EntityID+":"); err != nil {
				return err
			}
		}
	}
	for _, u := range c.Erasures {
		for _, q := range []string{sqlEraseLoginFailures, sqlEraseRefreshTokens, sqlEraseNotifications,
			sqlEraseLocations, sqlEraseLastLocation, sqlEraseResets} {
			if err := exec(q, u.ID); err != nil {
				return err
			}
		}
		if err := exec(sqlEraseUser, u.ID, micros(u.At)); err != nil {
			return err
		}
	}
	return nil
}

// ForgetUser deletes the Idempotency-Key answers that mention user id and
// his location fixes (see persistence.Erasure).
func (s *Store) ForgetUser(ctx context.Context, id string) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys
			WHERE scope = ?1 OR instr(body, CAST(?1 AS BLOB)) > 0`, id)
		if err != nil {
			return fmt.Errorf("idempotency keys: %w", err)
		}
		k, _ := res.RowsAffected()
		if res, err = tx.ExecContext(ctx, sqlEraseLocations, id); err != nil {
			return fmt.Errorf("locations: %w", err)
		}
		l, _ := res.RowsAffected()
		n = k + l
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("forget user %s: %w", id, err)
	}
	return n, nil
}

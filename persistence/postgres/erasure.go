package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/actors"
)

// Statements of a commit's redactions and erasures (actors.Redaction,
// actors.UserErasure), queued after everything else of the commit: its
// own journal event, the fence, is already in the batch.
const (
	sqlRedactEvent    = `UPDATE journal SET payload = $4 WHERE kind = $1 AND entity_id = $2 AND seq = $3`
	sqlPurgeJournal   = `DELETE FROM journal WHERE kind = $1 AND entity_id = $2 AND seq < $3`
	sqlRedactTimeline = `UPDATE order_timeline SET metadata = $3 WHERE order_id = $1 AND seq = $2`
	sqlRedactOutbox   = `UPDATE outbox SET payload = $2 WHERE id = $1`
	// notifications_event_idx serves the prefix (event_id is COLLATE "C").
	sqlOrderNotifications = `DELETE FROM notifications WHERE event_id LIKE $1`
	// The failed-login counts are keyed by the e-mail (throttle.go:
	// "<kind>:<e-mail>" or "<kind>:<e-mail>|<address>", whatever the
	// kind): they go before the row forgets it.
	sqlEraseLoginFailures = `DELETE FROM login_failures
		WHERE starts_with(substr(key, strpos(key, ':') + 1) || '|', (SELECT email FROM users WHERE id = $1) || '|')`
	sqlEraseUser = `UPDATE users SET email = 'erased:' || id, name = '', phone = '', password_hash = '',
		active = false, erased_at = $2 WHERE id = $1`
	sqlEraseRefreshTokens = `DELETE FROM refresh_tokens WHERE user_id = $1`
	sqlEraseNotifications = `DELETE FROM notifications WHERE user_id = $1`
	sqlEraseLocations     = `DELETE FROM location_history WHERE driver_id = $1`
	sqlEraseResets        = `DELETE FROM password_resets WHERE user_id = $1`
	sqlEraseLastLocation  = `UPDATE drivers SET last_lat = NULL, last_lng = NULL, last_location_at = NULL WHERE id = $1`
)

// queueErasure queues c's redactions and erasures in b.
func queueErasure(b *pgx.Batch, c actors.Commit) {
	for _, r := range c.Redactions {
		for _, e := range r.Journal {
			b.Queue(sqlRedactEvent, r.Kind, r.EntityID, e.Seq, nonNil(e.Payload))
		}
		if r.PurgeBefore > 0 {
			b.Queue(sqlPurgeJournal, r.Kind, r.EntityID, r.PurgeBefore)
		}
		for _, t := range r.Timeline {
			md := t.Metadata
			if md == nil {
				md = map[string]string{}
			}
			b.Queue(sqlRedactTimeline, t.OrderID, t.Seq, md)
		}
		for _, m := range r.Outbox {
			b.Queue(sqlRedactOutbox, m.ID, nonNil(m.Payload))
		}
		if r.Order {
			b.Queue(sqlOrderNotifications, likePrefix("order:"+r.EntityID+":"))
		}
	}
	for _, u := range c.Erasures {
		b.Queue(sqlEraseLoginFailures, u.ID)
		b.Queue(sqlEraseUser, u.ID, u.At)
		b.Queue(sqlEraseRefreshTokens, u.ID)
		b.Queue(sqlEraseNotifications, u.ID)
		b.Queue(sqlEraseLocations, u.ID)
		b.Queue(sqlEraseLastLocation, u.ID)
		b.Queue(sqlEraseResets, u.ID)
	}
}

// likePrefix is the LIKE pattern of the strings that start with p.
func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"
}

// ForgetUser deletes the Idempotency-Key answers that mention user id and
// his location fixes (see persistence.Erasure).
func (s *Store) ForgetUser(ctx context.Context, id string) (int64, error) {
	var n int64
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys
		WHERE scope = $1 OR position(convert_to($1, 'UTF8') IN body) > 0`, id)
	if err != nil {
		return 0, fmt.Errorf("forget user %s: idempotency keys: %w", id, err)
	}
	n += tag.RowsAffected()
	tag, err = s.pool.Exec(ctx, sqlEraseLocations, id)
	if err != nil {
		return n, fmt.Errorf("forget user %s: locations: %w", id, err)
	}
	return n + tag.RowsAffected(), nil
}

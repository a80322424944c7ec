package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/actors"
)

// Statements of a commit, in the order a batch runs them. Driver
// reservations come first so that a refused one aborts the transaction
// before anything else is written.
const (
	// reserve_driver (migrations/postgres/00001_init.sql) is the store's
	// copy of driver.CanTake (available and active_orders < capacity). It
	// stays in SQL because it is the guard of this commit's transaction:
	// only there can two orders racing for a driver's last slot be told
	// apart (I2). storetest's ReservationGuardAgreesWithCanTake checks the
	// two agree; change them together.
	sqlReserveDriver = `SELECT reserve_driver($1)`
	sqlReleaseDriver = `UPDATE drivers SET active_orders = GREATEST(active_orders - 1, 0) WHERE id = $1`
	sqlInsertEvent   = `INSERT INTO journal (kind, entity_id, seq, type, payload, command_id, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	sqlUpsertSnapshot = `INSERT INTO snapshots (kind, entity_id, seq, state) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kind, entity_id) DO UPDATE SET seq = EXCLUDED.seq, state = EXCLUDED.state
		WHERE snapshots.seq < EXCLUDED.seq`
	sqlUpsertOrder = `INSERT INTO orders (id, customer_id, driver_id, pickup, dropoff, delivery_option,
			scheduled_for, payment_status, status, notes, version, created_at, updated_at, offer_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id, driver_id = EXCLUDED.driver_id,
			pickup = EXCLUDED.pickup, dropoff = EXCLUDED.dropoff, delivery_option = EXCLUDED.delivery_option,
			scheduled_for = EXCLUDED.scheduled_for, payment_status = EXCLUDED.payment_status,
			status = EXCLUDED.status, notes = EXCLUDED.notes, version = EXCLUDED.version,
			created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, offer_expires_at = EXCLUDED.offer_expires_at
		WHERE orders.version < EXCLUDED.version`
	sqlInsertTimeline = `INSERT INTO order_timeline (order_id, seq, status, by_user_id, by_role, metadata, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	// The driver actor owns availability and capacity; active_orders
	// belongs to the orders' reservations and is never written here.
	sqlUpsertDriver = `INSERT INTO drivers (id, available, capacity, active_orders, version, updated_at)
		VALUES ($1, $2, $3, 0, $4, $5)
		ON CONFLICT (id) DO UPDATE SET available = EXCLUDED.available, capacity = EXCLUDED.capacity,
			version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
		WHERE drivers.version < EXCLUDED.version`
	sqlRevokeTokens = `UPDATE users SET tokens_revoked_before = GREATEST(COALESCE(tokens_revoked_before, $2), $2) WHERE id = $1`
	sqlInsertUser   = `INSERT INTO users (id, email, name, phone, role, password_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	sqlInsertOutbox = `INSERT INTO outbox (id, subject, payload, created_at, trace) VALUES ($1, $2, $3, $4, $5)`
	sqlInsertProof  = `INSERT INTO proofs (order_id, key, seq, content_type, size, by_user_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	// Deadlines done go before those armed, so that a commit that both
	// removes and re-arms one ID leaves it armed.
	sqlDeleteDeadlines = `DELETE FROM deadlines WHERE id = ANY($1)`
	// Arming an existing ID replaces it and ends any lease on it: the
	// claimer's DeleteDeadline then finds it no longer theirs.
	sqlArmDeadline = `INSERT INTO deadlines (id, kind, entity_id, due_at, command) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, entity_id = EXCLUDED.entity_id,
			due_at = EXCLUDED.due_at, command = EXCLUDED.command, lease_owner = NULL, lease_until = NULL`
	sqlSpendResets = `UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`
	// The last-admin guard (actors.Commit.AdminsLeaving). sqlLockAdmins
	// locks every active admin's row, in id order so that two guarded
	// commits never wait on each other in a cycle. Under READ COMMITTED
	// a commit that waited for another's lock goes on once that one has
	// committed, and sqlNoAdminLeft, a new statement, sees its change:
	// of two admins switching each other off at once, the second is
	// refused.
	sqlLockAdmins  = `SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE`
	sqlNoAdminLeft = `SELECT EXISTS (SELECT 1 FROM users WHERE id = ANY($1) AND role = 'admin' AND active)
		AND NOT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND active AND NOT id = ANY($1))`
)

// Commit writes c in one transaction with one round trip: every statement
// is queued in a pgx batch, which Postgres runs as a single implicit
// transaction ended by the batch's one Sync. The first failing statement
// aborts it and nothing of c is written. Guard failures map to
// actors.ErrConflict (a journal position already taken, I5),
// actors.ErrDriverUnavailable / actors.ErrDriverNotFound (a refused
// reservation, I2), actors.ErrCapacityInUse (a driver row whose capacity
// is below the driver's active orders, I2), actors.ErrEmailTaken and
// actors.ErrLastAdmin (commitKeepingAdmin, which runs the batch in an
// explicit transaction after the guard).
func (s *Store) Commit(ctx context.Context, c actors.Commit) error {
	b := &pgx.Batch{}
	// Journal first: a stale activation (I5) must learn of the conflict
	// even when a driver guard would refuse its commit too.
	for _, e := range c.Events {
		b.Queue(sqlInsertEvent, e.Kind, e.EntityID, e.Seq, e.Type, nonNil(e.Payload), e.CommandID, e.At)
	}
	for _, l := range c.Loads {
		switch {
		case l.Delta > 0:
			for range l.Delta {
				b.Queue(sqlReserveDriver, l.DriverID)
			}
		case l.Delta < 0:
			for range -l.Delta {
				b.Queue(sqlReleaseDriver, l.DriverID)
			}
		}
	}
	for _, sn := range c.Snapshots {
		b.Queue(sqlUpsertSnapshot, sn.Kind, sn.EntityID, sn.Seq, nonNil(sn.State))
	}
	for _, o := range c.Orders {
		b.Queue(sqlUpsertOrder, o.ID, o.CustomerID, nullIfEmpty(o.DriverID), o.Pickup, o.Dropoff,
			o.DeliveryOption, o.ScheduledFor, o.PaymentStatus, o.Status, o.Notes, o.Version,
			o.CreatedAt, o.UpdatedAt, o.OfferExpiresAt)
	}
	for _, t := range c.Timeline {
		md := t.Metadata
		if md == nil {
			md = map[string]string{}
		}
		b.Queue(sqlInsertTimeline, t.OrderID, t.Seq, t.Status, t.ByUserID, t.ByRole, md, t.At)
	}
	// Users before drivers: a driver row references its user.
	for _, u := range c.Users {
		b.Queue(sqlInsertUser, u.ID, u.Email, u.Name, u.Phone, u.Role, u.PasswordHash, u.CreatedAt)
	}
	for _, u := range c.UserUpdates {
		b.Queue(`UPDATE users SET name = COALESCE($2, name), phone = COALESCE($3, phone),
			password_hash = COALESCE($4, password_hash), active = COALESCE($5, active), role = COALESCE($6, role) WHERE id = $1`,
			u.ID, u.Name, u.Phone, u.PasswordHash, u.Active, u.Role)
	}
	for _, r := range c.TokensRevoked {
		b.Queue(sqlRevokeTokens, r.UserID, r.Before)
	}
	for _, r := range c.ResetsSpent {
		b.Queue(sqlSpendResets, r.UserID, r.At)
	}
	for _, d := range c.Drivers {
		b.Queue(sqlUpsertDriver, d.ID, d.Available, d.Capacity, d.Version, d.UpdatedAt)
	}
	for _, p := range c.Proofs {
		b.Queue(sqlInsertProof, p.OrderID, p.Key, p.Seq, p.ContentType, p.Size, p.ByUserID, p.At)
	}
	for _, m := range c.Outbox {
		at := m.At
		if at.IsZero() {
			at = time.Now()
		}
		b.Queue(sqlInsertOutbox, m.ID, m.Subject, nonNil(m.Payload), at, m.Trace)
	}
	if len(c.DeadlinesDone) > 0 {
		b.Queue(sqlDeleteDeadlines, c.DeadlinesDone)
	}
	for _, d := range c.Deadlines {
		b.Queue(sqlArmDeadline, d.ID, d.Kind, d.EntityID, d.DueAt, nonNil(d.Command))
	}
	queueErasure(b, c)
	if b.Len() == 0 {
		return nil
	}
	if len(c.AdminsLeaving) > 0 {
		return s.commitKeepingAdmin(ctx, c.AdminsLeaving, b)
	}
	// Close reads every result and returns the first error; the implicit
	// transaction has committed only if it returns nil.
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return commitError(err)
	}
	return nil
}

// commitKeepingAdmin runs b in a transaction that first takes the
// last-admin guard for leaving (sqlLockAdmins, sqlNoAdminLeft): refused,
// it is actors.ErrLastAdmin and nothing is written. The guard's locks go
// before every write of b, so no row of users is locked out of id order.
// Only commits that may remove an admin pay its round trips.
func (s *Store) commitKeepingAdmin(ctx context.Context, leaving []string, b *pgx.Batch) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, sqlLockAdmins); err != nil {
		return fmt.Errorf("commit: lock the admins: %w", err)
	}
	var none bool
	if err := tx.QueryRow(ctx, sqlNoAdminLeft, leaving).Scan(&none); err != nil {
		return fmt.Errorf("commit: count the admins: %w", err)
	}
	if none {
		return fmt.Errorf("commit: users %v: %w", leaving, actors.ErrLastAdmin)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return commitError(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return commitError(err)
	}
	return nil
}

// sqlLoad reads the newest snapshot and the journal tail after it in one
// statement, hence from one consistent view. Rows: the snapshot first
// (part 0, if any), then the events (part 1) in sequence order.
const sqlLoad = `
WITH snap AS (SELECT seq, state FROM snapshots WHERE kind = $1 AND entity_id = $2)
SELECT 0 AS part, seq, '' AS type, state AS payload, '' AS command_id, NULL::timestamptz AS at FROM snap
UNION ALL
SELECT 1, j.seq, j.type, j.payload, j.command_id, j.at FROM journal j
 WHERE j.kind = $1 AND j.entity_id = $2 AND j.seq > COALESCE((SELECT seq FROM snap), 0)
ORDER BY part, seq`

// Load returns the newest snapshot of (kind, id), if any, and the journal
// events after it in sequence order. An unknown entity loads empty.
func (s *Store) Load(ctx context.Context, kind, id string) (actors.Loaded, error) {
	rows, err := s.pool.Query(ctx, sqlLoad, kind, id)
	if err != nil {
		return actors.Loaded{}, fmt.Errorf("load %s %s: %w", kind, id, err)
	}
	defer rows.Close()
	var out actors.Loaded
	for rows.Next() {
		var (
			part     int
			seq      int64
			typ, cmd string
			payload  []byte
			at       *time.Time
		)
		if err := rows.Scan(&part, &seq, &typ, &payload, &cmd, &at); err != nil {
			return actors.Loaded{}, fmt.Errorf("load %s %s: %w", kind, id, err)
		}
		if part == 0 {
			out.Snapshot = &actors.Snapshot{Kind: kind, EntityID: id, Seq: seq, State: payload}
			continue
		}
		out.Events = append(out.Events, actors.Event{
			Kind: kind, EntityID: id, Seq: seq, Type: typ, Payload: payload,
			CommandID: cmd, At: at.UTC(),
		})
	}
	if err := rows.Err(); err != nil {
		return actors.Loaded{}, fmt.Errorf("load %s %s: %w", kind, id, err)
	}
	return out, nil
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nonNil keeps NOT NULL bytea columns happy with empty payloads.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

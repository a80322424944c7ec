package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/outrider/outrider/actors"
)

// Statements of a commit, in the order Commit runs them. Driver
// reservations come first so that a refused one aborts the transaction
// before anything else is written.
const (
	// sqlReserveDriver's WHERE is the store's copy of driver.CanTake. It
	// stays in SQL because it is the guard of this commit's transaction:
	// only there can two orders racing for a driver's last slot be told
	// apart (I2). storetest's ReservationGuardAgreesWithCanTake checks the
	// two agree; change them together.
	sqlReserveDriver = `UPDATE drivers SET active_orders = active_orders + 1
		WHERE id = ? AND available AND active_orders < capacity`
	sqlDriverExists  = `SELECT EXISTS (SELECT 1 FROM drivers WHERE id = ?)`
	sqlReleaseDriver = `UPDATE drivers SET active_orders = max(active_orders - 1, 0) WHERE id = ?`
	sqlInsertEvent   = `INSERT INTO journal (kind, entity_id, seq, type, payload, command_id, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlUpsertSnapshot = `INSERT INTO snapshots (kind, entity_id, seq, state) VALUES (?, ?, ?, ?)
		ON CONFLICT (kind, entity_id) DO UPDATE SET seq = excluded.seq, state = excluded.state
		WHERE snapshots.seq < excluded.seq`
	sqlUpsertOrder = `INSERT INTO orders (id, customer_id, driver_id, pickup, dropoff, delivery_option,
			scheduled_for, payment_status, status, notes, version, created_at, updated_at, offer_expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, driver_id = excluded.driver_id,
			pickup = excluded.pickup, dropoff = excluded.dropoff, delivery_option = excluded.delivery_option,
			scheduled_for = excluded.scheduled_for, payment_status = excluded.payment_status,
			status = excluded.status, notes = excluded.notes, version = excluded.version,
			created_at = excluded.created_at, updated_at = excluded.updated_at, offer_expires_at = excluded.offer_expires_at
		WHERE orders.version < excluded.version`
	sqlInsertTimeline = `INSERT INTO order_timeline (order_id, seq, status, by_user_id, by_role, metadata, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlEmailTaken = `SELECT EXISTS (SELECT 1 FROM users WHERE email_key = ?)`
	sqlInsertUser = `INSERT INTO users (id, email, email_key, name, phone, role, password_hash, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	// The driver actor owns availability and capacity; active_orders
	// belongs to the orders' reservations and is never written here.
	sqlUpsertDriver = `INSERT INTO drivers (id, available, capacity, active_orders, version, updated_at)
		VALUES (?, ?, ?, 0, ?, ?)
		ON CONFLICT (id) DO UPDATE SET available = excluded.available, capacity = excluded.capacity,
			version = excluded.version, updated_at = excluded.updated_at
		WHERE drivers.version < excluded.version`
	sqlInsertOutbox = `INSERT INTO outbox (id, subject, payload, created_at, trace) VALUES (?, ?, ?, ?, ?)`
	sqlInsertProof  = `INSERT INTO proofs (order_id, key, seq, content_type, size, by_user_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	// sqlCapacityInUse finds the driver row that sqlUpsertDriver would
	// update (a newer version) to a capacity below its active orders.
	sqlCapacityInUse = `SELECT EXISTS (SELECT 1 FROM drivers WHERE id = ? AND version < ? AND active_orders > ?)`
	// Deadlines done go before those armed, so that a commit that both
	// removes and re-arms one ID leaves it armed.
	sqlDeleteDeadline = `DELETE FROM deadlines WHERE id = ?`
	// Arming an existing ID replaces it and ends any lease on it: the
	// claimer's DeleteDeadline then finds it no longer theirs.
	sqlArmDeadline = `INSERT INTO deadlines (id, kind, entity_id, due_at, command) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, entity_id = excluded.entity_id,
			due_at = excluded.due_at, command = excluded.command, lease_owner = NULL, lease_until = NULL`
	sqlSpendResets = `UPDATE password_resets SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL`
	// The last-admin guard (actors.Commit.AdminsLeaving), ?1 a JSON
	// array of user ids. The write transaction is the one writer, taken
	// at BEGIN (IMMEDIATE), so what this reads stays true until the
	// commit.
	sqlNoAdminLeft = `SELECT EXISTS (SELECT 1 FROM users WHERE id IN (SELECT value FROM json_each(?1)) AND role = 'admin' AND active)
		AND NOT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND active AND id NOT IN (SELECT value FROM json_each(?1)))`
)

// Commit writes c in one write transaction, or nothing of it. Guards map
// to the actors' sentinels, as in the Postgres backend: a journal position
// (or any key derived from one) already taken is actors.ErrConflict (I5);
// a refused reservation is actors.ErrDriverUnavailable or
// actors.ErrDriverNotFound (I2); a driver row lowering capacity below the
// driver's active orders is actors.ErrCapacityInUse (I2); a registered
// e-mail, compared case-insensitively, is actors.ErrEmailTaken; a commit
// that would leave no active admin is actors.ErrLastAdmin. Once
// Commit returns nil the commit is durable (see the package doc).
func (s *Store) Commit(ctx context.Context, c actors.Commit) error {
	if isEmpty(c) {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error { return commitTx(ctx, tx, c) })
	if err == nil {
		return nil
	}
	if errors.Is(err, actors.ErrDriverNotFound) || errors.Is(err, actors.ErrDriverUnavailable) ||
		errors.Is(err, actors.ErrCapacityInUse) || errors.Is(err, actors.ErrEmailTaken) || errors.Is(err, actors.ErrLastAdmin) {
		return fmt.Errorf("commit: %w", err)
	}
	if isUniqueViolation(err) {
		// The journal key is the fence (I5); every other unique key of a
		// commit (timeline, outbox, user id) is derived from a journal
		// position, so a duplicate there is the same lost race.
		return fmt.Errorf("commit: duplicate key (%v): %w", err, actors.ErrConflict)
	}
	return fmt.Errorf("commit: %w", err)
}

func isEmpty(c actors.Commit) bool {
	return len(c.Events)+len(c.Snapshots)+len(c.Orders)+len(c.Timeline)+len(c.Loads)+
		len(c.Drivers)+len(c.Users)+len(c.Proofs)+len(c.Outbox)+len(c.Deadlines)+len(c.DeadlinesDone)+len(c.TokensRevoked)+len(c.UserUpdates)+
		len(c.Redactions)+len(c.Erasures)+len(c.AdminsLeaving)+len(c.ResetsSpent) == 0
}

// commitTx runs the statements of c in tx; the first failure aborts it.
func commitTx(ctx context.Context, tx *sql.Tx, c actors.Commit) error {
	// Journal first: a stale activation (I5) must learn of the conflict
	// even when a driver guard would refuse its commit too.
	for _, e := range c.Events {
		if _, err := tx.ExecContext(ctx, sqlInsertEvent, e.Kind, e.EntityID, e.Seq, e.Type,
			nonNil(e.Payload), e.CommandID, micros(e.At)); err != nil {
			return err
		}
	}
	if err := keepAdmin(ctx, tx, c.AdminsLeaving); err != nil {
		return err
	}
	for _, l := range c.Loads {
		for range l.Delta {
			if err := reserveDriver(ctx, tx, l.DriverID); err != nil {
				return err
			}
		}
		for range -l.Delta {
			if _, err := tx.ExecContext(ctx, sqlReleaseDriver, l.DriverID); err != nil {
				return err
			}
		}
	}
	for _, sn := range c.Snapshots {
		if _, err := tx.ExecContext(ctx, sqlUpsertSnapshot, sn.Kind, sn.EntityID, sn.Seq, nonNil(sn.State)); err != nil {
			return err
		}
	}
	for _, o := range c.Orders {
		if err := upsertOrder(ctx, tx, o); err != nil {
			return err
		}
	}
	for _, t := range c.Timeline {
		md := t.Metadata
		if md == nil {
			md = map[string]string{}
		}
		mdJSON, err := json.Marshal(md)
		if err != nil {
			return fmt.Errorf("encode timeline metadata: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlInsertTimeline, t.OrderID, t.Seq, t.Status, t.ByUserID,
			t.ByRole, string(mdJSON), micros(t.At)); err != nil {
			return err
		}
	}
	// Users before drivers: a driver row references its user.
	for _, u := range c.Users {
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
	}
	for _, u := range c.UserUpdates {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET name = COALESCE(?2, name), phone = COALESCE(?3, phone),
			password_hash = COALESCE(?4, password_hash), active = COALESCE(?5, active), role = COALESCE(?6, role) WHERE id = ?1`,
			u.ID, u.Name, u.Phone, u.PasswordHash, u.Active, u.Role); err != nil {
			return err
		}
	}
	for _, r := range c.TokensRevoked {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET tokens_revoked_before = max(coalesce(tokens_revoked_before, ?2), ?2) WHERE id = ?1`,
			r.UserID, micros(r.Before)); err != nil {
			return err
		}
	}
	for _, r := range c.ResetsSpent {
		if _, err := tx.ExecContext(ctx, sqlSpendResets, r.UserID, micros(r.At)); err != nil {
			return err
		}
	}
	for _, d := range c.Drivers {
		if err := upsertDriver(ctx, tx, d); err != nil {
			return err
		}
	}
	for _, p := range c.Proofs {
		if _, err := tx.ExecContext(ctx, sqlInsertProof, p.OrderID, p.Key, p.Seq, p.ContentType, p.Size,
			p.ByUserID, micros(p.At)); err != nil {
			return err
		}
	}
	for _, m := range c.Outbox {
		at := m.At
		if at.IsZero() {
			at = time.Now()
		}
		if _, err := tx.ExecContext(ctx, sqlInsertOutbox, m.ID, m.Subject, nonNil(m.Payload), micros(at), m.Trace); err != nil {
			return err
		}
	}
	for _, id := range c.DeadlinesDone {
		if _, err := tx.ExecContext(ctx, sqlDeleteDeadline, id); err != nil {
			return err
		}
	}
	for _, d := range c.Deadlines {
		if _, err := tx.ExecContext(ctx, sqlArmDeadline, d.ID, d.Kind, d.EntityID, micros(d.DueAt),
			nonNil(d.Command)); err != nil {
			return err
		}
	}
	return eraseTx(ctx, tx, c)
}

// upsertDriver checks explicitly that the row does not lower the driver's
// capacity below its active orders (rather than reading the CHECK
// constraint's error message), then writes it. The write transaction is
// the file's only writer, so no reservation can slip in between; the
// constraint drivers_active_orders_check stays as the backstop.
func upsertDriver(ctx context.Context, tx *sql.Tx, d actors.DriverRow) error {
	var inUse bool
	if err := tx.QueryRowContext(ctx, sqlCapacityInUse, d.ID, d.Version, d.Capacity).Scan(&inUse); err != nil {
		return err
	}
	if inUse {
		return fmt.Errorf("driver %s capacity %d: %w", d.ID, d.Capacity, actors.ErrCapacityInUse)
	}
	_, err := tx.ExecContext(ctx, sqlUpsertDriver, d.ID, d.Available, d.Capacity, d.Version, micros(d.UpdatedAt))
	return err
}

// reserveDriver takes one unit of a driver's capacity (I2) or says why
// not. The write transaction is the only writer of the file, so the check
// that follows a refused UPDATE sees the row the UPDATE saw.
func reserveDriver(ctx context.Context, tx *sql.Tx, id string) error {
	res, err := tx.ExecContext(ctx, sqlReserveDriver, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, sqlDriverExists, id).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("driver %s unavailable: %w", id, actors.ErrDriverUnavailable)
	}
	return fmt.Errorf("driver %s not found: %w", id, actors.ErrDriverNotFound)
}

func upsertOrder(ctx context.Context, tx *sql.Tx, o actors.OrderRow) error {
	pickup, err := json.Marshal(o.Pickup)
	if err != nil {
		return fmt.Errorf("encode pickup: %w", err)
	}
	dropoff, err := json.Marshal(o.Dropoff)
	if err != nil {
		return fmt.Errorf("encode dropoff: %w", err)
	}
	var driverID sql.NullString
	if o.DriverID != "" {
		driverID = sql.NullString{String: o.DriverID, Valid: true}
	}
	_, err = tx.ExecContext(ctx, sqlUpsertOrder, o.ID, o.CustomerID, driverID, string(pickup), string(dropoff),
		o.DeliveryOption, nullMicros(o.ScheduledFor), o.PaymentStatus, o.Status, o.Notes, o.Version,
		micros(o.CreatedAt), micros(o.UpdatedAt), nullMicros(o.OfferExpiresAt))
	return err
}

// emailKey is the form in which e-mails are compared: Unicode lower case.
func emailKey(email string) string { return strings.ToLower(email) }

// insertUser checks the e-mail explicitly (rather than reading the unique
// index's error message) and inserts the user. The unique index stays as
// the backstop.
func insertUser(ctx context.Context, tx *sql.Tx, u actors.UserRow) error {
	key := emailKey(u.Email)
	var taken bool
	if err := tx.QueryRowContext(ctx, sqlEmailTaken, key).Scan(&taken); err != nil {
		return err
	}
	if taken {
		return actors.ErrEmailTaken
	}
	_, err := tx.ExecContext(ctx, sqlInsertUser, u.ID, u.Email, key, u.Name, u.Phone, u.Role,
		u.PasswordHash, micros(u.CreatedAt))
	return err
}

// sqlLoad reads the newest snapshot and the journal tail after it in one
// statement, hence from one consistent snapshot of the file. Rows: the
// snapshot first (part 0, if any), then the events (part 1) in sequence
// order.
const sqlLoad = `
WITH snap AS (SELECT seq, state FROM snapshots WHERE kind = ?1 AND entity_id = ?2)
SELECT 0 AS part, seq, '' AS type, state AS payload, '' AS command_id, NULL AS at FROM snap
UNION ALL
SELECT 1, j.seq, j.type, j.payload, j.command_id, j.at FROM journal j
 WHERE j.kind = ?1 AND j.entity_id = ?2 AND j.seq > coalesce((SELECT seq FROM snap), 0)
ORDER BY part, seq`

// Load returns the newest snapshot of (kind, id), if any, and the journal
// events after it in sequence order. An unknown entity loads empty.
func (s *Store) Load(ctx context.Context, kind, id string) (actors.Loaded, error) {
	rows, err := s.r.QueryContext(ctx, sqlLoad, kind, id)
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
			at       sql.NullInt64
		)
		if err := rows.Scan(&part, &seq, &typ, &payload, &cmd, &at); err != nil {
			return actors.Loaded{}, fmt.Errorf("load %s %s: %w", kind, id, err)
		}
		if part == 0 {
			out.Snapshot = &actors.Snapshot{Kind: kind, EntityID: id, Seq: seq, State: nonNil(payload)}
			continue
		}
		out.Events = append(out.Events, actors.Event{
			Kind: kind, EntityID: id, Seq: seq, Type: typ, Payload: nonNil(payload),
			CommandID: cmd, At: fromMicros(at.Int64),
		})
	}
	if err := rows.Err(); err != nil {
		return actors.Loaded{}, fmt.Errorf("load %s %s: %w", kind, id, err)
	}
	return out, nil
}

// Version returns the newest journal seq of (kind, id), 0 when it has
// none, as the Postgres backend's method of the same name does.
func (s *Store) Version(ctx context.Context, kind, id string) (int64, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM journal WHERE kind = ? AND entity_id = ?`,
		kind, id).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("version %s %s: %w", kind, id, err)
	}
	return v, nil
}

// JournalEvents returns an entity's journal events with seq > after, in
// sequence order, as the Postgres backend's method of the same name does
// (realtime resume replays from it, I4). An unknown entity has none.
func (s *Store) JournalEvents(ctx context.Context, kind, id string, after int64) ([]actors.Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, type, payload, command_id, at FROM journal
		WHERE kind = ? AND entity_id = ? AND seq > ? ORDER BY seq`, kind, id, after)
	if err != nil {
		return nil, fmt.Errorf("journal %s %s: %w", kind, id, err)
	}
	defer rows.Close()
	var out []actors.Event
	for rows.Next() {
		e := actors.Event{Kind: kind, EntityID: id}
		var at int64
		if err := rows.Scan(&e.Seq, &e.Type, &e.Payload, &e.CommandID, &at); err != nil {
			return nil, fmt.Errorf("journal %s %s: %w", kind, id, err)
		}
		e.Payload, e.At = nonNil(e.Payload), fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal %s %s: %w", kind, id, err)
	}
	return out, nil
}

// keepAdmin is the last-admin guard: actors.ErrLastAdmin when one of
// leaving is an active admin and no active admin outside leaving is.
func keepAdmin(ctx context.Context, tx *sql.Tx, leaving []string) error {
	if len(leaving) == 0 {
		return nil
	}
	ids, err := json.Marshal(leaving)
	if err != nil {
		return fmt.Errorf("encode users: %w", err)
	}
	var none bool
	if err := tx.QueryRowContext(ctx, sqlNoAdminLeft, string(ids)).Scan(&none); err != nil {
		return fmt.Errorf("count the admins: %w", err)
	}
	if none {
		return fmt.Errorf("users %v: %w", leaving, actors.ErrLastAdmin)
	}
	return nil
}

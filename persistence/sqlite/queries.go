package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	"github.com/outrider/outrider/persistence"
)

// DefaultLimit is the page size of ListOrders and ListDrivers when the
// filter's Limit is zero or negative. Callers (the HTTP layer) cap it.
const DefaultLimit = 50

const orderColumns = `id, customer_id, coalesce(driver_id, ''), pickup, dropoff, delivery_option,
	scheduled_for, payment_status, status, notes, version, created_at, updated_at, offer_expires_at`

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface{ Scan(dest ...any) error }

func scanOrder(row scanner) (actors.OrderRow, error) {
	var (
		o                   actors.OrderRow
		pickup, dropoff     string
		scheduled, offer    sql.NullInt64
		createdAt, updateAt int64
	)
	err := row.Scan(&o.ID, &o.CustomerID, &o.DriverID, &pickup, &dropoff, &o.DeliveryOption,
		&scheduled, &o.PaymentStatus, &o.Status, &o.Notes, &o.Version, &createdAt, &updateAt, &offer)
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal([]byte(pickup), &o.Pickup); err != nil {
		return o, fmt.Errorf("decode pickup: %w", err)
	}
	if err := json.Unmarshal([]byte(dropoff), &o.Dropoff); err != nil {
		return o, fmt.Errorf("decode dropoff: %w", err)
	}
	o.ScheduledFor = fromNullMicros(scheduled)
	o.OfferExpiresAt = fromNullMicros(offer)
	o.CreatedAt, o.UpdatedAt = fromMicros(createdAt), fromMicros(updateAt)
	return o, nil
}

// GetOrder returns the order row, or an error wrapping persistence.ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, id string) (actors.OrderRow, error) {
	o, err := scanOrder(s.r.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return actors.OrderRow{}, notFound("order", id)
	}
	if err != nil {
		return actors.OrderRow{}, fmt.Errorf("get order %s: %w", id, err)
	}
	return o, nil
}

// where accumulates SQL conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

// add appends cond and the arguments of its "?" placeholders, in order.
func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func limit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return n
}

// ListOrders returns orders newest first (id descending, bytewise), at
// most f.Limit (DefaultLimit if unset), and whether more follow. It
// fetches one row more than the page to know.
func (s *Store) ListOrders(ctx context.Context, f persistence.OrderFilter) ([]actors.OrderRow, bool, error) {
	var w where
	if len(f.Statuses) > 0 {
		args := make([]any, len(f.Statuses))
		for i, st := range f.Statuses {
			args[i] = st
		}
		w.add("status IN (?"+strings.Repeat(", ?", len(args)-1)+")", args...)
	}
	if f.CustomerID != "" {
		w.add("customer_id = ?", f.CustomerID)
	}
	if f.DriverID != "" {
		w.add("driver_id = ?", f.DriverID)
	}
	if f.UserID != "" {
		w.add("(customer_id = ? OR driver_id = ?)", f.UserID, f.UserID)
	}
	if f.After != "" {
		w.add("id < ?", f.After)
	}
	n := limit(f.Limit)
	q := `SELECT ` + orderColumns + ` FROM orders` + w.String() + ` ORDER BY id DESC LIMIT ` + strconv.Itoa(n+1)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, false, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	out := []actors.OrderRow{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, false, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("list orders: %w", err)
	}
	if len(out) > n {
		return out[:n], true, nil
	}
	return out, false, nil
}

// Timeline returns an order's timeline in sequence order; empty (not an
// error) for an unknown order.
func (s *Store) Timeline(ctx context.Context, orderID string) ([]actors.TimelineEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT order_id, seq, status, by_user_id, by_role, metadata, at
		FROM order_timeline WHERE order_id = ? ORDER BY seq`, orderID)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", orderID, err)
	}
	defer rows.Close()
	out := []actors.TimelineEntry{}
	for rows.Next() {
		var (
			t  actors.TimelineEntry
			md string
			at int64
		)
		if err := rows.Scan(&t.OrderID, &t.Seq, &t.Status, &t.ByUserID, &t.ByRole, &md, &at); err != nil {
			return nil, fmt.Errorf("timeline of %s: %w", orderID, err)
		}
		if err := json.Unmarshal([]byte(md), &t.Metadata); err != nil {
			return nil, fmt.Errorf("timeline of %s: decode metadata: %w", orderID, err)
		}
		t.At = fromMicros(at)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", orderID, err)
	}
	return out, nil
}

// driverQuery reads the drivers whose account is a driver's (see the
// Postgres backend's).
const driverQuery = `SELECT d.id, u.name, u.email, u.phone, d.available, d.capacity, d.active_orders,
	d.last_lat, d.last_lng, d.last_location_at, d.updated_at
	FROM drivers d JOIN users u ON u.id = d.id AND u.role = 'driver' AND u.erased_at IS NULL`

func scanDriver(row scanner) (persistence.Driver, error) {
	var (
		d         persistence.Driver
		lat, lng  sql.NullFloat64
		at        sql.NullInt64
		updatedAt int64
	)
	err := row.Scan(&d.ID, &d.Name, &d.Email, &d.Phone, &d.Available, &d.Capacity, &d.ActiveOrders,
		&lat, &lng, &at, &updatedAt)
	if err != nil {
		return d, err
	}
	d.Status = driver.Status(d.Available, d.Capacity, d.ActiveOrders)
	d.UpdatedAt = fromMicros(updatedAt)
	if lat.Valid && lng.Valid && at.Valid {
		d.LastLocation = &persistence.Location{Lat: lat.Float64, Lng: lng.Float64, At: fromMicros(at.Int64)}
	}
	return d, nil
}

// GetDriver returns the driver joined with its user, or an error wrapping
// persistence.ErrNotFound.
func (s *Store) GetDriver(ctx context.Context, id string) (persistence.Driver, error) {
	d, err := scanDriver(s.r.QueryRowContext(ctx, driverQuery+` WHERE d.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return persistence.Driver{}, notFound("driver", id)
	}
	if err != nil {
		return persistence.Driver{}, fmt.Errorf("get driver %s: %w", id, err)
	}
	return d, nil
}

// ListDrivers returns drivers oldest first (id ascending, bytewise),
// optionally only those of one status, at most f.Limit (DefaultLimit if
// unset), and whether more follow. An unknown status is an error. The
// status is driver.Status applied in Go (persistence.ListDriversPaged),
// not a SQL copy of it.
func (s *Store) ListDrivers(ctx context.Context, f persistence.DriverFilter) ([]persistence.Driver, bool, error) {
	return persistence.ListDriversPaged(f, limit(f.Limit), func(after string, n int) ([]persistence.Driver, error) {
		rows, err := s.r.QueryContext(ctx, driverQuery+` WHERE d.id > ? ORDER BY d.id LIMIT `+strconv.Itoa(n), after)
		if err != nil {
			return nil, fmt.Errorf("list drivers: %w", err)
		}
		defer rows.Close()
		var out []persistence.Driver
		for rows.Next() {
			d, err := scanDriver(rows)
			if err != nil {
				return nil, fmt.Errorf("list drivers: %w", err)
			}
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("list drivers: %w", err)
		}
		return out, nil
	})
}

const userQuery = `SELECT id, email, name, phone, role, password_hash, created_at, NOT active, erased_at IS NOT NULL FROM users`

// ListUsers returns a page of users (see persistence.Queries).
func (s *Store) ListUsers(ctx context.Context, f persistence.UserFilter) ([]persistence.User, bool, error) {
	pat := persistence.LikePattern(strings.ToLower(f.Query))
	rows, err := s.r.QueryContext(ctx, userQuery+` WHERE erased_at IS NULL AND id > ?1 AND (?2 = '' OR role = ?2)
		AND (?3 = '' OR lower(name) LIKE ?4 ESCAPE '\' OR email_key LIKE ?4 ESCAPE '\') ORDER BY id LIMIT ?5`,
		f.After, f.Role, f.Query, pat, f.Limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []persistence.User
	for rows.Next() {
		var u persistence.User
		var createdAt int64
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.Phone, &u.Role, &u.PasswordHash, &createdAt, &u.Inactive, &u.Erased); err != nil {
			return nil, false, fmt.Errorf("list users: %w", err)
		}
		u.CreatedAt = fromMicros(createdAt)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("list users: %w", err)
	}
	if len(out) > f.Limit {
		return out[:f.Limit], true, nil
	}
	return out, false, nil
}

func (s *Store) getUser(ctx context.Context, cond, arg string) (persistence.User, error) {
	var (
		u         persistence.User
		createdAt int64
	)
	err := s.r.QueryRowContext(ctx, userQuery+` WHERE `+cond, arg).Scan(
		&u.ID, &u.Email, &u.Name, &u.Phone, &u.Role, &u.PasswordHash, &createdAt, &u.Inactive, &u.Erased)
	if errors.Is(err, sql.ErrNoRows) {
		return persistence.User{}, notFound("user", arg)
	}
	if err != nil {
		return persistence.User{}, fmt.Errorf("get user %s: %w", arg, err)
	}
	u.CreatedAt = fromMicros(createdAt)
	return u, nil
}

// GetUser returns a user by id, or an error wrapping persistence.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (persistence.User, error) {
	return s.getUser(ctx, `id = ?`, id)
}

// GetUserByEmail returns the user whose e-mail equals email ignoring case
// (Unicode lower case, as Commit compares them), or an error wrapping
// persistence.ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (persistence.User, error) {
	return s.getUser(ctx, `email_key = ?`, emailKey(email))
}

// DriverSlots reads the slots of the drivers among ids (see persistence.Queries).
func (s *Store) DriverSlots(ctx context.Context, ids []string) (map[string]persistence.DriverSlot, error) {
	out := make(map[string]persistence.DriverSlot, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, available, capacity, active_orders FROM drivers WHERE id IN (`+placeholders(len(ids))+`)`,
		keyArgs(ids)...)
	if err != nil {
		return nil, fmt.Errorf("driver slots: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var d persistence.DriverSlot
		if err := rows.Scan(&id, &d.Available, &d.Capacity, &d.ActiveOrders); err != nil {
			return nil, fmt.Errorf("driver slots: %w", err)
		}
		out[id] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("driver slots: %w", err)
	}
	return out, nil
}

// TokensRevokedSince returns the recent token revocations (see persistence.Queries).
func (s *Store) TokensRevokedSince(ctx context.Context, since time.Time) (map[string]time.Time, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, tokens_revoked_before FROM users WHERE tokens_revoked_before > ?`, micros(since))
	if err != nil {
		return nil, fmt.Errorf("revoked tokens: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("revoked tokens: %w", err)
		}
		out[id] = fromMicros(at)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revoked tokens: %w", err)
	}
	return out, nil
}

// AdminIDs returns the ids of every user with role admin, by id, at most
// persistence.MaxAdminIDs: switched off or not, but not erased.
func (s *Store) AdminIDs(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM users WHERE role = ? AND erased_at IS NULL ORDER BY id LIMIT ?`,
		actors.RoleAdmin, persistence.MaxAdminIDs)
	if err != nil {
		return nil, fmt.Errorf("admin ids: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("admin ids: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("admin ids: %w", err)
	}
	return ids, nil
}

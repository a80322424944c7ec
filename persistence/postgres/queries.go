package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	"github.com/outrider/outrider/persistence"
)

// DefaultLimit is the page size of ListOrders and ListDrivers when the
// filter's Limit is zero or negative. Callers (the HTTP layer) cap it.
const DefaultLimit = 50

const orderColumns = `id, customer_id, COALESCE(driver_id, ''), pickup, dropoff, delivery_option,
	scheduled_for, payment_status, status, notes, version, created_at, updated_at, offer_expires_at`

func scanOrder(row pgx.Row) (actors.OrderRow, error) {
	var o actors.OrderRow
	err := row.Scan(&o.ID, &o.CustomerID, &o.DriverID, &o.Pickup, &o.Dropoff, &o.DeliveryOption,
		&o.ScheduledFor, &o.PaymentStatus, &o.Status, &o.Notes, &o.Version, &o.CreatedAt, &o.UpdatedAt,
		&o.OfferExpiresAt)
	for _, p := range []**time.Time{&o.ScheduledFor, &o.OfferExpiresAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

// GetOrder returns the order row, or an error wrapping persistence.ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, id string) (actors.OrderRow, error) {
	o, err := scanOrder(s.pool.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return actors.OrderRow{}, notFound("order", id)
	}
	if err != nil {
		return actors.OrderRow{}, fmt.Errorf("get order %s: %w", id, err)
	}
	return o, nil
}

// where accumulates SQL conditions and their positional arguments.
type where struct {
	conds []string
	args  []any
}

// add appends cond and its argument; every "?" in cond stands for arg.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(w.args))))
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

// ListOrders returns orders newest first (id descending), at most f.Limit
// (DefaultLimit if unset), and whether more follow. It fetches one row
// more than the page to know.
func (s *Store) ListOrders(ctx context.Context, f persistence.OrderFilter) ([]actors.OrderRow, bool, error) {
	var w where
	if len(f.Statuses) > 0 {
		w.add("status = ANY(?)", f.Statuses)
	}
	if f.CustomerID != "" {
		w.add("customer_id = ?", f.CustomerID)
	}
	if f.DriverID != "" {
		w.add("driver_id = ?", f.DriverID)
	}
	if f.UserID != "" {
		w.add("(customer_id = ? OR driver_id = ?)", f.UserID)
	}
	if f.After != "" {
		w.add("id < ?", f.After)
	}
	n := limit(f.Limit)
	q := `SELECT ` + orderColumns + ` FROM orders` + w.String() + ` ORDER BY id DESC LIMIT ` + strconv.Itoa(n+1)
	rows, err := s.pool.Query(ctx, q, w.args...)
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
	rows, err := s.pool.Query(ctx, `SELECT order_id, seq, status, by_user_id, by_role, metadata, at
		FROM order_timeline WHERE order_id = $1 ORDER BY seq`, orderID)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", orderID, err)
	}
	defer rows.Close()
	out := []actors.TimelineEntry{}
	for rows.Next() {
		var t actors.TimelineEntry
		if err := rows.Scan(&t.OrderID, &t.Seq, &t.Status, &t.ByUserID, &t.ByRole, &t.Metadata, &t.At); err != nil {
			return nil, fmt.Errorf("timeline of %s: %w", orderID, err)
		}
		t.At = t.At.UTC()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", orderID, err)
	}
	return out, nil
}

// driverQuery reads the drivers whose account is a driver's: a record
// stays when its account is erased or changes role (orders name it), but
// it is no longer listed.
const driverQuery = `SELECT d.id, u.name, u.email, u.phone, d.available, d.capacity, d.active_orders,
	d.last_lat, d.last_lng, d.last_location_at, d.updated_at
	FROM drivers d JOIN users u ON u.id = d.id AND u.role = 'driver' AND u.erased_at IS NULL`

func scanDriver(row pgx.Row) (persistence.Driver, error) {
	var (
		d        persistence.Driver
		lat, lng *float64
		at       *time.Time
	)
	err := row.Scan(&d.ID, &d.Name, &d.Email, &d.Phone, &d.Available, &d.Capacity, &d.ActiveOrders,
		&lat, &lng, &at, &d.UpdatedAt)
	if err != nil {
		return d, err
	}
	d.Status = driver.Status(d.Available, d.Capacity, d.ActiveOrders)
	d.UpdatedAt = d.UpdatedAt.UTC()
	if lat != nil && lng != nil && at != nil {
		d.LastLocation = &persistence.Location{Lat: *lat, Lng: *lng, At: at.UTC()}
	}
	return d, nil
}

// GetDriver returns the driver joined with its user, or an error wrapping
// persistence.ErrNotFound.
func (s *Store) GetDriver(ctx context.Context, id string) (persistence.Driver, error) {
	d, err := scanDriver(s.pool.QueryRow(ctx, driverQuery+` WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return persistence.Driver{}, notFound("driver", id)
	}
	if err != nil {
		return persistence.Driver{}, fmt.Errorf("get driver %s: %w", id, err)
	}
	return d, nil
}

// ListDrivers returns drivers oldest first (id ascending), optionally only
// those of one status, at most f.Limit (DefaultLimit if unset), and
// whether more follow. An unknown status is an error. The status is
// driver.Status applied in Go (persistence.ListDriversPaged), not a SQL
// copy of it.
func (s *Store) ListDrivers(ctx context.Context, f persistence.DriverFilter) ([]persistence.Driver, bool, error) {
	return persistence.ListDriversPaged(f, limit(f.Limit), func(after string, n int) ([]persistence.Driver, error) {
		rows, err := s.pool.Query(ctx, driverQuery+` WHERE d.id > $1 ORDER BY d.id LIMIT `+strconv.Itoa(n), after)
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

func (s *Store) getUser(ctx context.Context, cond, arg string) (persistence.User, error) {
	var u persistence.User
	err := s.pool.QueryRow(ctx, userQuery+` WHERE `+cond, arg).Scan(
		&u.ID, &u.Email, &u.Name, &u.Phone, &u.Role, &u.PasswordHash, &u.CreatedAt, &u.Inactive, &u.Erased)
	if errors.Is(err, pgx.ErrNoRows) {
		return persistence.User{}, notFound("user", arg)
	}
	if err != nil {
		return persistence.User{}, fmt.Errorf("get user %s: %w", arg, err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// ListUsers returns a page of users (see persistence.Queries).
func (s *Store) ListUsers(ctx context.Context, f persistence.UserFilter) ([]persistence.User, bool, error) {
	rows, err := s.pool.Query(ctx, userQuery+` WHERE erased_at IS NULL AND id > $1 AND ($2 = '' OR role = $2)
		AND ($3 = '' OR name ILIKE $4 OR email ILIKE $4) ORDER BY id LIMIT $5`,
		f.After, f.Role, f.Query, persistence.LikePattern(f.Query), f.Limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("list users: %w", err)
	}
	var out []persistence.User
	var u persistence.User
	if _, err := pgx.ForEachRow(rows, []any{&u.ID, &u.Email, &u.Name, &u.Phone, &u.Role, &u.PasswordHash, &u.CreatedAt, &u.Inactive, &u.Erased}, func() error {
		u.CreatedAt = u.CreatedAt.UTC()
		out = append(out, u)
		return nil
	}); err != nil {
		return nil, false, fmt.Errorf("list users: %w", err)
	}
	if len(out) > f.Limit {
		return out[:f.Limit], true, nil
	}
	return out, false, nil
}

// GetUser returns a user by id, or an error wrapping persistence.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (persistence.User, error) {
	return s.getUser(ctx, `id = $1`, id)
}

// GetUserByEmail returns the user whose e-mail equals email ignoring case,
// or an error wrapping persistence.ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (persistence.User, error) {
	return s.getUser(ctx, `lower(email) = lower($1)`, email)
}

// DriverSlots reads the slots of the drivers among ids (see persistence.Queries).
func (s *Store) DriverSlots(ctx context.Context, ids []string) (map[string]persistence.DriverSlot, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, available, capacity, active_orders FROM drivers WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("driver slots: %w", err)
	}
	out := make(map[string]persistence.DriverSlot, len(ids))
	var id string
	var d persistence.DriverSlot
	if _, err := pgx.ForEachRow(rows, []any{&id, &d.Available, &d.Capacity, &d.ActiveOrders}, func() error {
		out[id] = d
		return nil
	}); err != nil {
		return nil, fmt.Errorf("driver slots: %w", err)
	}
	return out, nil
}

// TokensRevokedSince returns the recent token revocations (see persistence.Queries).
func (s *Store) TokensRevokedSince(ctx context.Context, since time.Time) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, tokens_revoked_before FROM users WHERE tokens_revoked_before > $1`, since)
	if err != nil {
		return nil, fmt.Errorf("revoked tokens: %w", err)
	}
	out := map[string]time.Time{}
	var id string
	var at time.Time
	if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error { out[id] = at.UTC(); return nil }); err != nil {
		return nil, fmt.Errorf("revoked tokens: %w", err)
	}
	return out, nil
}

// AdminIDs returns the ids of every user with role admin, by id, at most
// persistence.MaxAdminIDs: switched off or not, but not erased.
func (s *Store) AdminIDs(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM users WHERE role = $1 AND erased_at IS NULL ORDER BY id LIMIT $2`,
		actors.RoleAdmin, persistence.MaxAdminIDs)
	if err != nil {
		return nil, fmt.Errorf("admin ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("admin ids: %w", err)
	}
	return ids, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

// This file is persistence.Deadlines: the scheduler's side of the
// deadline rows that Commit arms and removes (commit.go).

var _ persistence.Deadlines = (*Store)(nil)

// sqlClaimDue leases the due, unleased deadlines, earliest first, walking
// deadlines_due_idx. It runs in a write transaction: the file has one
// writer, so no other claim (or commit re-arming a row) runs between its
// choice of rows and its update, which is what SKIP LOCKED settles in
// Postgres.
const sqlClaimDue = `UPDATE deadlines SET lease_owner = ?1, lease_until = ?3
	WHERE id IN (
		SELECT id FROM deadlines
		 WHERE due_at <= ?2 AND (lease_until IS NULL OR lease_until < ?2)
		 ORDER BY due_at, id
		 LIMIT ?4)
	RETURNING id, kind, entity_id, due_at, command`

// ClaimDue leases to owner, until leaseUntil, up to limit deadlines due at
// or before now and free of a live lease (one with lease_until >= now),
// earliest due first (ties by id), and returns them. A limit below 1
// claims nothing.
func (s *Store) ClaimDue(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]actors.Deadline, error) {
	if limit < 1 {
		return nil, nil
	}
	var out []actors.Deadline
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, sqlClaimDue, owner, micros(now), micros(leaseUntil), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				d   actors.Deadline
				due int64
			)
			if err := rows.Scan(&d.ID, &d.Kind, &d.EntityID, &due, &d.Command); err != nil {
				return err
			}
			d.DueAt, d.Command = fromMicros(due), nonNil(d.Command)
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim due deadlines: %w", err)
	}
	// RETURNING comes in no promised order.
	slices.SortFunc(out, func(a, b actors.Deadline) int {
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteDeadline removes deadline id if owner holds its lease. A deadline
// re-armed since (its lease cleared) or claimed by another owner stays; a
// missing one is not an error. As in the Postgres backend, the lease is
// not compared with a clock.
func (s *Store) DeleteDeadline(ctx context.Context, id, owner string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM deadlines WHERE id = ? AND lease_owner = ?`, id, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete deadline %s: %w", id, err)
	}
	return nil
}

// PostponeDeadline makes deadline id due at due and ends its lease, if
// owner holds that lease; otherwise (re-armed since, claimed by another
// owner, missing) it changes nothing and is not an error. As in the
// Postgres backend, the lease is not compared with a clock.
func (s *Store) PostponeDeadline(ctx context.Context, id, owner string, due time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE deadlines SET due_at = ?3, lease_owner = NULL, lease_until = NULL
			WHERE id = ?1 AND lease_owner = ?2`, id, owner, micros(due))
		return err
	})
	if err != nil {
		return fmt.Errorf("postpone deadline %s: %w", id, err)
	}
	return nil
}

// NextDeadline returns the earliest due time of all deadlines, leased or
// not (the first entry of deadlines_due_idx); ok is false when there are
// none.
func (s *Store) NextDeadline(ctx context.Context) (time.Time, bool, error) {
	var due sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT min(due_at) FROM deadlines`).Scan(&due); err != nil {
		return time.Time{}, false, fmt.Errorf("next deadline: %w", err)
	}
	if !due.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(due.Int64), true, nil
}

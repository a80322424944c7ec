package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

// This file is persistence.Deadlines: the scheduler's side of the
// deadline rows that Commit arms and removes (commit.go).

var _ persistence.Deadlines = (*Store)(nil)

// sqlClaimDue leases the due, unleased deadlines in one statement. The
// inner SELECT walks deadlines_due_idx from the earliest due_at and locks
// the rows it picks; SKIP LOCKED passes over rows that a concurrent claim
// (or a commit re-arming them) holds, instead of waiting for it. A row
// that such a transaction changed and committed after this statement's
// snapshot is re-checked on its newest version before it is locked, so a
// lease another claimer has just taken hides it. Hence two claims never
// lease one row while its lease lives, and neither waits for the other.
// The outer SELECT puts the leased rows in due order, which RETURNING
// does not promise.
const sqlClaimDue = `
WITH claimed AS (
	UPDATE deadlines SET lease_owner = $1, lease_until = $3
	 WHERE id IN (
		SELECT id FROM deadlines
		 WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
		 ORDER BY due_at, id
		 LIMIT $4
		   FOR UPDATE SKIP LOCKED)
	RETURNING id, kind, entity_id, due_at, command)
SELECT id, kind, entity_id, due_at, command FROM claimed ORDER BY due_at, id`

// ClaimDue leases to owner, until leaseUntil, up to limit deadlines due at
// or before now and free of a live lease (one with lease_until >= now),
// earliest due first (ties by id), and returns them. A limit below 1
// claims nothing.
func (s *Store) ClaimDue(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]actors.Deadline, error) {
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, sqlClaimDue, owner, now, leaseUntil, limit)
	if err != nil {
		return nil, fmt.Errorf("claim due deadlines: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (actors.Deadline, error) {
		var d actors.Deadline
		err := row.Scan(&d.ID, &d.Kind, &d.EntityID, &d.DueAt, &d.Command)
		d.DueAt = d.DueAt.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim due deadlines: %w", err)
	}
	return out, nil
}

// DeleteDeadline removes deadline id if owner holds its lease. A deadline
// re-armed since (its lease cleared) or claimed by another owner stays; a
// missing one is not an error. The lease is not compared with a clock: an
// owner whose lease ran out, but which nobody has claimed since, fired
// the command all the same, and removing the row spares a second firing.
func (s *Store) DeleteDeadline(ctx context.Context, id, owner string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM deadlines WHERE id = $1 AND lease_owner = $2`, id, owner); err != nil {
		return fmt.Errorf("delete deadline %s: %w", id, err)
	}
	return nil
}

// PostponeDeadline makes deadline id due at due and ends its lease, if
// owner holds that lease; otherwise (re-armed since, claimed by another
// owner, missing) it changes nothing and is not an error. As in
// DeleteDeadline, the lease is not compared with a clock.
func (s *Store) PostponeDeadline(ctx context.Context, id, owner string, due time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE deadlines SET due_at = $3, lease_owner = NULL, lease_until = NULL
		WHERE id = $1 AND lease_owner = $2`, id, owner, due); err != nil {
		return fmt.Errorf("postpone deadline %s: %w", id, err)
	}
	return nil
}

// NextDeadline returns the earliest due time of all deadlines, leased or
// not (the first entry of deadlines_due_idx); ok is false when there are
// none.
func (s *Store) NextDeadline(ctx context.Context) (time.Time, bool, error) {
	var due *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(due_at) FROM deadlines`).Scan(&due); err != nil {
		return time.Time{}, false, fmt.Errorf("next deadline: %w", err)
	}
	if due == nil {
		return time.Time{}, false, nil
	}
	return due.UTC(), true, nil
}

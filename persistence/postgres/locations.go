package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/persistence"
)

// RecordLocations copies history into the location history in one COPY
// and moves each driver in last to his newest fix there. The move skips
// drivers whose row an order commit holds (FOR UPDATE SKIP LOCKED): a
// commit never waits behind a batch of positions, nor the batch behind a
// commit while it holds the rows it already locked. A skipped driver's
// position moves with his next fix that is due (bus.Locations).
func (s *Store) RecordLocations(ctx context.Context, history, last []persistence.LocationFix) error {
	if len(history) > 0 {
		rows := make([][]any, len(history))
		for i, f := range history {
			rows[i] = []any{f.DriverID, f.At, f.Lat, f.Lng, f.Heading, f.Speed, f.Accuracy}
		}
		if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"location_history"},
			[]string{"driver_id", "at", "lat", "lng", "heading", "speed", "accuracy"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("record locations: %w", err)
		}
	}
	newest := persistence.NewestFixes(last)
	if len(newest) == 0 {
		return nil
	}
	ids := make([]string, 0, len(newest))
	lats, lngs := make([]float64, 0, len(newest)), make([]float64, 0, len(newest))
	ats := make([]time.Time, 0, len(newest))
	for _, f := range newest {
		ids, lats, lngs, ats = append(ids, f.DriverID), append(lats, f.Lat), append(lngs, f.Lng), append(ats, f.At)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE drivers d SET last_lat = v.lat, last_lng = v.lng, last_location_at = v.at
		FROM unnest($1::text[], $2::float8[], $3::float8[], $4::timestamptz[]) AS v(id, lat, lng, at)
		WHERE d.id = v.id AND (d.last_location_at IS NULL OR d.last_location_at < v.at)
		AND d.id IN (SELECT id FROM drivers WHERE id = ANY($1) ORDER BY id FOR UPDATE SKIP LOCKED)`, ids, lats, lngs, ats); err != nil {
		return fmt.Errorf("record last locations: %w", err)
	}
	return nil
}

// Trail returns driverID's fixes in [from, to), oldest first.
func (s *Store) Trail(ctx context.Context, driverID string, from, to time.Time, limit int) ([]persistence.LocationFix, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, lat, lng, heading, speed, accuracy FROM location_history
		WHERE driver_id = $1 AND at >= $2 AND at < $3 ORDER BY at LIMIT $4`, driverID, from, to, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("trail %s: %w", driverID, err)
	}
	defer rows.Close()
	var out []persistence.LocationFix
	for rows.Next() {
		f := persistence.LocationFix{DriverID: driverID}
		if err := rows.Scan(&f.At, &f.Lat, &f.Lng, &f.Heading, &f.Speed, &f.Accuracy); err != nil {
			return nil, fmt.Errorf("trail %s: %w", driverID, err)
		}
		f.At = f.At.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

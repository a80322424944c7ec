package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outrider/outrider/persistence"
)

// RecordLocations copies the fixes into the history in one COPY and moves
// each driver's last location to its newest fix.
func (s *Store) RecordLocations(ctx context.Context, fixes []persistence.LocationFix) error {
	if len(fixes) == 0 {
		return nil
	}
	rows := make([][]any, len(fixes))
	newest := map[string]persistence.LocationFix{}
	for i, f := range fixes {
		rows[i] = []any{f.DriverID, f.At, f.Lat, f.Lng, f.Heading, f.Speed, f.Accuracy}
		if n, ok := newest[f.DriverID]; !ok || f.At.After(n.At) {
			newest[f.DriverID] = f
		}
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"location_history"},
		[]string{"driver_id", "at", "lat", "lng", "heading", "speed", "accuracy"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("record locations: %w", err)
	}
	ids := make([]string, 0, len(newest))
	lats, lngs := make([]float64, 0, len(newest)), make([]float64, 0, len(newest))
	ats := make([]time.Time, 0, len(newest))
	for id, f := range newest {
		ids, lats, lngs, ats = append(ids, id), append(lats, f.Lat), append(lngs, f.Lng), append(ats, f.At)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE drivers d SET last_lat = v.lat, last_lng = v.lng, last_location_at = v.at
		FROM unnest($1::text[], $2::float8[], $3::float8[], $4::timestamptz[]) AS v(id, lat, lng, at)
		WHERE d.id = v.id AND (d.last_location_at IS NULL OR d.last_location_at < v.at)`, ids, lats, lngs, ats); err != nil {
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

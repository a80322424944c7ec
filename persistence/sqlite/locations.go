package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/outrider/outrider/persistence"
)

// RecordLocations appends history in one write transaction and moves
// each driver in last to his newest fix there.
func (s *Store) RecordLocations(ctx context.Context, history, last []persistence.LocationFix) error {
	newest := persistence.NewestFixes(last)
	if len(history) == 0 && len(newest) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO location_history (driver_id, at, lat, lng, heading, speed, accuracy)
			VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("record locations: %w", err)
		}
		defer ins.Close()
		for _, f := range history {
			if _, err := ins.ExecContext(ctx, f.DriverID, micros(f.At), f.Lat, f.Lng, f.Heading, f.Speed, f.Accuracy); err != nil {
				return fmt.Errorf("record locations: %w", err)
			}
		}
		upd, err := tx.PrepareContext(ctx, `UPDATE drivers SET last_lat = ?, last_lng = ?, last_location_at = ?
			WHERE id = ? AND (last_location_at IS NULL OR last_location_at < ?)`)
		if err != nil {
			return fmt.Errorf("record locations: %w", err)
		}
		defer upd.Close()
		for _, f := range newest {
			at := micros(f.At)
			if _, err := upd.ExecContext(ctx, f.Lat, f.Lng, at, f.DriverID, at); err != nil {
				return fmt.Errorf("record last location: %w", err)
			}
		}
		return nil
	})
}

// Trail returns driverID's fixes in [from, to), oldest first.
func (s *Store) Trail(ctx context.Context, driverID string, from, to time.Time, limit int) ([]persistence.LocationFix, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT at, lat, lng, heading, speed, accuracy FROM location_history
		WHERE driver_id = ? AND at >= ? AND at < ? ORDER BY at LIMIT ?`, driverID, micros(from), micros(to), max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("trail %s: %w", driverID, err)
	}
	defer rows.Close()
	var out []persistence.LocationFix
	for rows.Next() {
		f := persistence.LocationFix{DriverID: driverID}
		var at int64
		if err := rows.Scan(&at, &f.Lat, &f.Lng, &f.Heading, &f.Speed, &f.Accuracy); err != nil {
			return nil, fmt.Errorf("trail %s: %w", driverID, err)
		}
		f.At = fromMicros(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

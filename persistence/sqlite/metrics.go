package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/outrider/outrider/persistence"
)

// sqlOrdersByDay reads the timeline lines that may count in the metric
// within a UTC window [?1, ?2) in microseconds, each with the status of
// the order's line before it (its newest with a lower seq: redactions
// leave gaps), read through the primary key: a line counts only as a
// transition into its status (issue #14, finding 8). The status
// predicate repeats that of order_timeline_metric_idx, so the index
// covers the scan.
const sqlOrdersByDay = `SELECT t.at, t.status, t.seq,
	(SELECT p.status FROM order_timeline p WHERE p.order_id = t.order_id AND p.seq < t.seq
	 ORDER BY p.seq DESC LIMIT 1)
	FROM order_timeline t
	WHERE t.status IN ('pending', 'delivered', 'cancelled', 'failed') AND t.at >= ?1 AND t.at < ?2`

// OrdersByDay counts, per calendar day in the IANA zone tz ("" means UTC),
// the orders created (first event, seq 1, status pending: a later return
// to pending after a declined offer does not count), delivered, cancelled
// and failed (the transitions into those statuses), for days from..to inclusive (YYYY-MM-DD), including days with
// no activity. An unknown zone, a malformed day, from after to, or a range
// over persistence.MaxMetricDays days is an error.
//
// SQLite knows no time zones, so the zone's rules come from Go's
// time.LoadLocation: the query reads the lines between local midnight of
// from and local midnight after to, and Go assigns each to its local day.
func (s *Store) OrdersByDay(ctx context.Context, from, to string, tz string) ([]persistence.DayCount, error) {
	rng, err := persistence.ParseDayRange(from, to, tz)
	if err != nil {
		return nil, fmt.Errorf("orders by day: %w", err)
	}
	loc := rng.Loc

	// One entry per day, in order; index maps a local day to its entry.
	out := []persistence.DayCount{}
	index := map[string]int{}
	for _, day := range rng.Days() {
		index[day] = len(out)
		out = append(out, persistence.DayCount{Day: day})
	}
	start, end := rng.Start(), rng.End()

	rows, err := s.r.QueryContext(ctx, sqlOrdersByDay, micros(start), micros(end))
	if err != nil {
		return nil, fmt.Errorf("orders by day: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			at     int64
			status string
			seq    int64
			prev   sql.NullString
		)
		if err := rows.Scan(&at, &status, &seq, &prev); err != nil {
			return nil, fmt.Errorf("orders by day: %w", err)
		}
		i, ok := index[fromMicros(at).In(loc).Format(time.DateOnly)]
		if !ok {
			continue // cannot happen: the window is exactly the days
		}
		if status != "pending" && prev.Valid && prev.String == status {
			continue // a later line of the same status: no transition
		}
		switch d := &out[i]; status {
		case "pending":
			if seq == 1 {
				d.Created++
			}
		case "delivered":
			d.Delivered++
		case "cancelled":
			d.Cancelled++
		case "failed":
			d.Failed++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("orders by day: %w", err)
	}
	return out, nil
}

package postgres

import (
	"context"
	"fmt"

	"github.com/outrider/outrider/persistence"
)

// sqlOrdersByDay counts transitions per local day: an order is created by
// its first line (seq 1, status pending), and delivered, cancelled or
// failed by the line that moves it there from another status — later
// lines of the same status (a proof, a payment, a note after delivery)
// are no transition (issue #14, finding 8), and a return to pending after
// a declined offer is no creation. The previous line is the order's
// newest with a lower seq (redactions leave gaps), read through the
// primary key. The status predicate repeats that of
// order_timeline_metric_idx so the partial index applies; the range on
// "at" is computed from the local day bounds, so the index range scan
// covers exactly the requested days.
const sqlOrdersByDay = `
WITH days AS (
	SELECT d::date AS day FROM generate_series($1::date, $2::date, interval '1 day') AS d
), ev AS (
	SELECT (t.at AT TIME ZONE $3)::date AS day, t.status, t.seq, prev.status AS prev
	  FROM order_timeline t
	  LEFT JOIN LATERAL (
		SELECT p.status FROM order_timeline p
		 WHERE p.order_id = t.order_id AND p.seq < t.seq
		 ORDER BY p.seq DESC LIMIT 1
	  ) prev ON true
	 WHERE t.status IN ('pending', 'delivered', 'cancelled', 'failed')
	   AND t.at >= ($1::date::timestamp AT TIME ZONE $3)
	   AND t.at < (($2::date + 1)::timestamp AT TIME ZONE $3)
)
SELECT to_char(days.day, 'YYYY-MM-DD'),
	count(*) FILTER (WHERE ev.status = 'pending' AND ev.seq = 1),
	count(*) FILTER (WHERE ev.status = 'delivered' AND ev.prev IS DISTINCT FROM 'delivered'),
	count(*) FILTER (WHERE ev.status = 'cancelled' AND ev.prev IS DISTINCT FROM 'cancelled'),
	count(*) FILTER (WHERE ev.status = 'failed' AND ev.prev IS DISTINCT FROM 'failed')
FROM days LEFT JOIN ev ON ev.day = days.day
GROUP BY days.day ORDER BY days.day`

// OrdersByDay counts, per calendar day in the IANA zone tz ("" means UTC),
// the orders created, delivered, cancelled and failed, for days from..to
// inclusive (YYYY-MM-DD), including days with no activity. An unknown
// zone, a malformed day, from after to, or a range over
// persistence.MaxMetricDays days is an error; the HTTP layer validates
// these first.
func (s *Store) OrdersByDay(ctx context.Context, from, to string, tz string) ([]persistence.DayCount, error) {
	if tz == "" {
		tz = "UTC"
	}
	if _, err := persistence.ParseDayRange(from, to, tz); err != nil {
		return nil, fmt.Errorf("orders by day: %w", err)
	}
	rows, err := s.pool.Query(ctx, sqlOrdersByDay, from, to, tz)
	if err != nil {
		return nil, fmt.Errorf("orders by day: %w", err)
	}
	defer rows.Close()
	out := []persistence.DayCount{}
	for rows.Next() {
		var d persistence.DayCount
		if err := rows.Scan(&d.Day, &d.Created, &d.Delivered, &d.Cancelled, &d.Failed); err != nil {
			return nil, fmt.Errorf("orders by day: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("orders by day: %w", err)
	}
	return out, nil
}

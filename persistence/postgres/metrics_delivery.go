package postgres

import (
	"context"
	"fmt"

	"github.com/outrider/outrider/persistence"
)

// sqlDeliveryTimes measures deliveries in one statement, so the days and
// the histogram read one snapshot. A delivery is the line that moved an
// order to delivered — its first delivered line: delivered is final, and
// the later ones (a proof, a payment) are no delivery (issue #14, finding
// 8, as in sqlOrdersByDay). Its duration runs from the order's first line
// (seq 1, the creation), read through the primary key, in whole seconds
// rounded down. The status predicate repeats that of
// order_timeline_metric_idx so the partial index applies, and the range
// on "at" is computed from the local day bounds.
//
// The answer is the days' rows ('day', in day order) then the buckets'
// ('bucket', with their bound in minutes, NULL for the open bucket, and
// their position in $4 last). percentile_disc is the nearest rank
// (ceil(p·n)-th value), as SQLite's Go computes it.
const sqlDeliveryTimes = `
WITH days AS (
	SELECT d::date AS day FROM generate_series($1::date, $2::date, interval '1 day') AS d
), dl AS MATERIALIZED (
	SELECT (t.at AT TIME ZONE $3)::date AS day,
		floor(extract(epoch FROM t.at) - extract(epoch FROM c.at))::bigint AS secs
	  FROM order_timeline t
	  JOIN order_timeline c ON c.order_id = t.order_id AND c.seq = 1
	 WHERE t.status IN ('pending', 'delivered', 'cancelled', 'failed') AND t.status = 'delivered'
	   AND t.at >= ($1::date::timestamp AT TIME ZONE $3)
	   AND t.at < (($2::date + 1)::timestamp AT TIME ZONE $3)
	   AND NOT EXISTS (SELECT 1 FROM order_timeline p
		WHERE p.order_id = t.order_id AND p.seq < t.seq AND p.status = 'delivered')
), buckets AS (
	SELECT b.i, b.le, lag(b.le) OVER (ORDER BY b.i) AS gt
	  FROM unnest($4::int[] || NULL::int) WITH ORDINALITY AS b(le, i)
)
SELECT 'day' AS part, to_char(days.day, 'YYYY-MM-DD') AS day, count(dl.secs),
	round(avg(dl.secs))::bigint,
	percentile_disc(0.5) WITHIN GROUP (ORDER BY dl.secs),
	percentile_disc(0.9) WITHIN GROUP (ORDER BY dl.secs),
	max(dl.secs)
  FROM days LEFT JOIN dl ON dl.day = days.day
 GROUP BY days.day
UNION ALL
SELECT 'bucket', NULL, count(dl.secs), b.le, NULL, NULL, b.i
  FROM buckets b LEFT JOIN dl
	ON (b.gt IS NULL OR dl.secs > b.gt * 60) AND (b.le IS NULL OR dl.secs <= b.le * 60)
 GROUP BY b.i, b.le
ORDER BY part DESC, day, 7`

// DeliveryTimes measures, per calendar day in the IANA zone tz ("" means
// UTC), the orders delivered and how long they took from creation, for
// days from..to inclusive (YYYY-MM-DD), days without a delivery included,
// and a histogram of the durations over the range
// (persistence.DeliveryBucketMinutes). Arguments are validated as
// persistence.ParseDayRange does.
func (s *Store) DeliveryTimes(ctx context.Context, from, to string, tz string) (persistence.DeliveryTimes, error) {
	if tz == "" {
		tz = "UTC"
	}
	if _, err := persistence.ParseDayRange(from, to, tz); err != nil {
		return persistence.DeliveryTimes{}, fmt.Errorf("delivery times: %w", err)
	}
	bounds := persistence.DeliveryBucketMinutes()
	rows, err := s.pool.Query(ctx, sqlDeliveryTimes, from, to, tz, bounds)
	if err != nil {
		return persistence.DeliveryTimes{}, fmt.Errorf("delivery times: %w", err)
	}
	defer rows.Close()
	out := persistence.DeliveryTimes{Days: []persistence.DeliveryDay{}, Histogram: make([]persistence.DeliveryBucket, len(bounds)+1)}
	for rows.Next() {
		var (
			part                 string
			day                  *string
			n                    int
			mean, p50, p90, last *int64
		)
		if err := rows.Scan(&part, &day, &n, &mean, &p50, &p90, &last); err != nil {
			return persistence.DeliveryTimes{}, fmt.Errorf("delivery times: %w", err)
		}
		if part == "bucket" {
			// mean is the bound (NULL: open), last the 1-based position.
			b := persistence.DeliveryBucket{Count: n}
			if mean != nil {
				b.LeMinutes = int(*mean)
			}
			out.Histogram[*last-1] = b
			continue
		}
		d := persistence.DeliveryDay{Day: *day, Delivered: n}
		if n > 0 {
			d.MeanS, d.P50S, d.P90S, d.MaxS = *mean, *p50, *p90, *last
		}
		out.Days = append(out.Days, d)
	}
	if err := rows.Err(); err != nil {
		return persistence.DeliveryTimes{}, fmt.Errorf("delivery times: %w", err)
	}
	return out, nil
}

package sqlite

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/outrider/outrider/persistence"
)

// sqlDeliveryTimes reads the deliveries within a UTC window [?1, ?2) in
// microseconds: each order's line that moved it to delivered — its first
// delivered line: delivered is final, and later ones (a proof, a payment)
// are no delivery (issue #14, finding 8) — with the time of the order's
// first line (seq 1, the creation), read through the primary key. The
// status predicate repeats that of order_timeline_metric_idx, so the
// index covers the scan.
const sqlDeliveryTimes = `SELECT t.at, c.at
	FROM order_timeline t
	JOIN order_timeline c ON c.order_id = t.order_id AND c.seq = 1
	WHERE t.status IN ('pending', 'delivered', 'cancelled', 'failed') AND t.status = 'delivered'
	  AND t.at >= ?1 AND t.at < ?2
	  AND NOT EXISTS (SELECT 1 FROM order_timeline p
		WHERE p.order_id = t.order_id AND p.seq < t.seq AND p.status = 'delivered')`

// DeliveryTimes measures, per calendar day in the IANA zone tz ("" means
// UTC), the orders delivered and how long they took from creation, for
// days from..to inclusive (YYYY-MM-DD), days without a delivery included,
// and a histogram of the durations over the range
// (persistence.DeliveryBucketMinutes). Arguments are validated as
// persistence.ParseDayRange does.
//
// SQLite knows no time zones nor percentiles: the query reads the
// deliveries between local midnight of from and local midnight after to,
// and Go assigns each to its local day and summarises the days as
// Postgres does (nearest-rank percentiles, mean rounded half away from
// zero, durations in whole seconds rounded down).
func (s *Store) DeliveryTimes(ctx context.Context, from, to string, tz string) (persistence.DeliveryTimes, error) {
	rng, err := persistence.ParseDayRange(from, to, tz)
	if err != nil {
		return persistence.DeliveryTimes{}, fmt.Errorf("delivery times: %w", err)
	}
	days := rng.Days()
	secs := make(map[string][]int64, len(days)) // durations by local day
	rows, err := s.r.QueryContext(ctx, sqlDeliveryTimes, micros(rng.Start()), micros(rng.End()))
	if err != nil {
		return persistence.DeliveryTimes{}, fmt.Errorf("delivery times: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var delivered, created int64
		if err := rows.Scan(&delivered, &created); err != nil {
			return persistence.DeliveryTimes{}, fmt.Errorf("delivery times: %w", err)
		}
		day := fromMicros(delivered).In(rng.Loc).Format(time.DateOnly)
		secs[day] = append(secs[day], floorDiv(delivered-created, int64(time.Second/time.Microsecond)))
	}
	if err := rows.Err(); err != nil {
		return persistence.DeliveryTimes{}, fmt.Errorf("delivery times: %w", err)
	}

	bounds := persistence.DeliveryBucketMinutes()
	out := persistence.DeliveryTimes{Days: make([]persistence.DeliveryDay, 0, len(days)),
		Histogram: make([]persistence.DeliveryBucket, len(bounds)+1)}
	for i, b := range bounds {
		out.Histogram[i].LeMinutes = b
	}
	for _, day := range days {
		out.Days = append(out.Days, summarise(day, secs[day]))
		for _, v := range secs[day] {
			i := 0 // the first bucket whose bound v does not pass
			for i < len(bounds) && v > int64(bounds[i])*60 {
				i++
			}
			out.Histogram[i].Count++
		}
	}
	return out, nil
}

// summarise is one day of the metric from its durations in seconds.
func summarise(day string, secs []int64) persistence.DeliveryDay {
	d := persistence.DeliveryDay{Day: day, Delivered: len(secs)}
	if len(secs) == 0 {
		return d
	}
	slices.Sort(secs)
	var sum int64
	for _, v := range secs {
		sum += v
	}
	n := int64(len(secs))
	d.MeanS = roundDiv(sum, n)
	d.P50S = secs[nearestRank(50, n)-1]
	d.P90S = secs[nearestRank(90, n)-1]
	d.MaxS = secs[n-1]
	return d
}

// nearestRank is the 1-based rank of the p-th percentile of n values:
// ceil(p·n/100), at least 1.
func nearestRank(p, n int64) int64 { return max((p*n+99)/100, 1) }

// floorDiv is a/b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// roundDiv is a/b rounded to the nearest integer, halves away from zero
// (b > 0), as Postgres rounds a numeric.
func roundDiv(a, b int64) int64 {
	if a < 0 {
		return -roundDiv(-a, b)
	}
	return (2*a + b) / (2 * b)
}

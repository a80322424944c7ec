package persistence

import (
	"fmt"
	"time"
)

// MaxMetricDays bounds the day range of a metric query (OrdersByDay,
// DeliveryTimes), so that a typo in a year cannot make a store generate
// millions of rows. The HTTP API allows far less (a year); this is the
// store's own guard.
const MaxMetricDays = 3660

// DayRange is a validated range of calendar days in a time zone, as the
// metric queries take it: From..To inclusive, both at midnight UTC
// (dates, not instants), and Loc the zone that says where each local
// day starts.
type DayRange struct {
	From, To time.Time
	Loc      *time.Location
}

// ParseDayRange validates the arguments every metric query takes: days
// from..to inclusive (YYYY-MM-DD) in the IANA zone tz ("" means UTC). An
// unknown zone (or "Local", which depends on the host), a malformed day,
// from after to, or more than MaxMetricDays days is an error.
func ParseDayRange(from, to, tz string) (DayRange, error) {
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		return DayRange{}, fmt.Errorf("unknown time zone %q", tz)
	}
	f, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return DayRange{}, fmt.Errorf("bad from day %q: %w", from, err)
	}
	t, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return DayRange{}, fmt.Errorf("bad to day %q: %w", to, err)
	}
	if t.Before(f) || t.Sub(f) > MaxMetricDays*24*time.Hour {
		return DayRange{}, fmt.Errorf("range %s..%s is empty or longer than %d days", from, to, MaxMetricDays)
	}
	return DayRange{From: f, To: t, Loc: loc}, nil
}

// Days lists the range's days, YYYY-MM-DD, in order.
func (r DayRange) Days() []string {
	var out []string
	for d := r.From; !d.After(r.To); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

// Start is the instant the range starts: local midnight of From.
func (r DayRange) Start() time.Time {
	return time.Date(r.From.Year(), r.From.Month(), r.From.Day(), 0, 0, 0, 0, r.Loc)
}

// End is the instant right after the range: local midnight after To.
func (r DayRange) End() time.Time {
	return time.Date(r.To.Year(), r.To.Month(), r.To.Day()+1, 0, 0, 0, 0, r.Loc)
}

// DeliveryTimes is the delivery-times metric over a range of days: how
// long orders took from their creation (their first timeline line) to
// their delivery (the line that moved them to delivered), counted on the
// local day of the delivery.
type DeliveryTimes struct {
	// Days has one entry per day of the range, in order, days without a
	// delivery included.
	Days []DeliveryDay
	// Histogram counts the range's deliveries per duration bucket: one
	// entry per bound of DeliveryBucketMinutes, in order, then the open
	// bucket (LeMinutes 0) for longer ones. Counts are per bucket, not
	// cumulative, and add up to the Delivered of all Days.
	Histogram []DeliveryBucket
}

// DeliveryDay is one local day of the delivery-times metric. Durations
// are whole seconds (rounded down). With Delivered 0 the four durations
// are 0 and mean nothing (the API answers null).
type DeliveryDay struct {
	Day       string // YYYY-MM-DD in the requested zone
	Delivered int
	// MeanS is the mean, rounded to the nearest second (halves away
	// from zero); P50S and P90S are nearest-rank percentiles: the
	// ceil(p·n)-th shortest of the day's n durations; MaxS the longest.
	MeanS, P50S, P90S, MaxS int64
}

// DeliveryBucket is one bucket of the delivery-times histogram: the
// deliveries that took more than the previous bucket's bound and at
// most LeMinutes minutes. LeMinutes 0 is the last, open bucket: longer
// than the last bound.
type DeliveryBucket struct {
	LeMinutes int
	Count     int
}

// DeliveryBucketMinutes returns the histogram's bucket bounds in
// minutes, ascending; the open bucket after the last is implied. Both
// stores build their histogram from it.
func DeliveryBucketMinutes() []int { return []int{15, 30, 45, 60, 90, 120, 180} }

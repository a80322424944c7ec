package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

func testDeliveryTimes(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Parallel()
	b, ctx := open(t), t.Context()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return v
	}
	line := func(id string, seq int64, status, when string) actors.TimelineEntry {
		return actors.TimelineEntry{OrderID: id, Seq: seq, Status: status, At: at(when)}
	}
	// Berlin is UTC+1 in early March 2026, UTC+2 from 29 March.
	lines := []actors.TimelineEntry{
		line("a", 1, "pending", "2026-03-02T10:00:00Z"),
		line("a", 2, "delivered", "2026-03-02T10:10:00Z"), // 600 s
		// b is declined once (back to pending: still created at seq 1),
		// and its proof and payment repeat delivered — no delivery again,
		// on the same day or the next, across a gap in the line numbers.
		line("b", 1, "pending", "2026-03-02T09:00:00Z"),
		line("b", 2, "assigned", "2026-03-02T09:01:00Z"),
		line("b", 3, "pending", "2026-03-02T09:02:00Z"),
		line("b", 4, "delivered", "2026-03-02T09:30:00Z"), // 1800 s: the 30-minute bucket's bound
		line("b", 5, "delivered", "2026-03-02T09:40:00Z"),
		line("b", 7, "delivered", "2026-03-03T08:00:00Z"),
		line("c", 1, "pending", "2026-03-02T22:00:00Z"),
		line("c", 2, "delivered", "2026-03-02T23:30:00Z"), // 5400 s; Berlin: 3 March
		line("d", 1, "pending", "2026-03-01T19:00:00.25Z"),
		line("d", 2, "delivered", "2026-03-01T23:10:00Z"), // 14999.75 s: 14999; Berlin: 2 March
		line("e", 1, "pending", "2026-03-02T11:00:00Z"),
		line("e", 2, "delivered", "2026-03-02T11:45:00.999Z"), // 2700.999 s: 2700, in the 45-minute bucket
		// Created before the range, delivered in it: counts.
		line("i", 1, "pending", "2026-02-27T12:00:00Z"),
		line("i", 2, "delivered", "2026-03-01T00:30:00Z"), // 131400 s
		// Delivered 30 minutes before the range in UTC, in it in Berlin.
		line("k", 1, "pending", "2026-02-28T23:00:00Z"),
		line("k", 2, "delivered", "2026-02-28T23:30:00Z"), // 1800 s; Berlin: 1 March
		// Created in the range, delivered after it: not yet.
		line("j", 1, "pending", "2026-03-02T12:00:00Z"),
		line("j", 2, "delivered", "2026-03-04T12:00:00Z"),
		// Never delivered: cancelled (a note repeats it), failed, on its way.
		line("f", 1, "pending", "2026-03-02T08:00:00Z"),
		line("f", 2, "cancelled", "2026-03-02T08:30:00Z"),
		line("f", 3, "cancelled", "2026-03-02T09:30:00Z"),
		line("g", 1, "pending", "2026-03-02T07:00:00Z"),
		line("g", 2, "failed", "2026-03-02T07:40:00Z"),
		line("h", 1, "pending", "2026-03-02T06:00:00Z"),
		line("h", 2, "assigned", "2026-03-02T06:01:00Z"),
		line("h", 3, "in_transit", "2026-03-02T06:20:00Z"),
		// After the change to summer time: 00:30 in Berlin on 30 March.
		line("s", 1, "pending", "2026-03-29T22:00:00Z"),
		line("s", 2, "delivered", "2026-03-29T22:30:00Z"),
	}
	// 10 March (UTC): ten deliveries of 1..10 minutes. Nearest rank, not
	// interpolation: the median is the 5th (300 s), p90 the 9th (540 s).
	for k := 1; k <= 10; k++ {
		id := fmt.Sprintf("m%02d", k)
		created := time.Date(2026, 3, 10, 8, k, 0, 0, time.UTC)
		lines = append(lines,
			actors.TimelineEntry{OrderID: id, Seq: 1, Status: "pending", At: created},
			actors.TimelineEntry{OrderID: id, Seq: 2, Status: "delivered", At: created.Add(time.Duration(k) * time.Minute)})
	}
	for _, l := range lines {
		l.Metadata = map[string]string{}
		require.NoError(t, b.Commit(ctx, actors.Commit{Timeline: []actors.TimelineEntry{l}}))
	}

	type (
		dd = persistence.DeliveryDay
		hb = persistence.DeliveryBucket
	)
	// hist is a histogram from its counts, in the order of the bounds.
	hist := func(counts ...int) []hb {
		bounds := append(persistence.DeliveryBucketMinutes(), 0)
		require.Len(t, counts, len(bounds))
		out := make([]hb, len(bounds))
		for i := range bounds {
			out[i] = hb{LeMinutes: bounds[i], Count: counts[i]}
		}
		return out
	}
	tests := []struct {
		name     string
		tz       string
		from, to string
		want     persistence.DeliveryTimes
	}{
		{"utc", "UTC", "2026-03-01", "2026-03-03", persistence.DeliveryTimes{
			Days: []dd{
				// 73199.5 s rounds away from zero.
				{Day: "2026-03-01", Delivered: 2, MeanS: 73200, P50S: 14999, P90S: 131400, MaxS: 131400},
				{Day: "2026-03-02", Delivered: 4, MeanS: 2625, P50S: 1800, P90S: 5400, MaxS: 5400},
				{Day: "2026-03-03"},
			},
			Histogram: hist(1, 1, 1, 0, 1, 0, 0, 2),
		}},
		{"berlin across midnight", "Europe/Berlin", "2026-03-01", "2026-03-03", persistence.DeliveryTimes{
			Days: []dd{
				{Day: "2026-03-01", Delivered: 2, MeanS: 66600, P50S: 1800, P90S: 131400, MaxS: 131400},
				// 5024.75 s rounds to 5025.
				{Day: "2026-03-02", Delivered: 4, MeanS: 5025, P50S: 1800, P90S: 14999, MaxS: 14999},
				{Day: "2026-03-03", Delivered: 1, MeanS: 5400, P50S: 5400, P90S: 5400, MaxS: 5400},
			},
			Histogram: hist(1, 2, 1, 0, 1, 0, 0, 2),
		}},
		{"nearest rank", "UTC", "2026-03-10", "2026-03-10", persistence.DeliveryTimes{
			Days:      []dd{{Day: "2026-03-10", Delivered: 10, MeanS: 330, P50S: 300, P90S: 540, MaxS: 600}},
			Histogram: hist(10, 0, 0, 0, 0, 0, 0, 0),
		}},
		{"berlin summer time", "Europe/Berlin", "2026-03-29", "2026-03-30", persistence.DeliveryTimes{
			Days:      []dd{{Day: "2026-03-29"}, {Day: "2026-03-30", Delivered: 1, MeanS: 1800, P50S: 1800, P90S: 1800, MaxS: 1800}},
			Histogram: hist(0, 1, 0, 0, 0, 0, 0, 0),
		}},
		{"utc before summer time", "UTC", "2026-03-29", "2026-03-30", persistence.DeliveryTimes{
			Days:      []dd{{Day: "2026-03-29", Delivered: 1, MeanS: 1800, P50S: 1800, P90S: 1800, MaxS: 1800}, {Day: "2026-03-30"}},
			Histogram: hist(0, 1, 0, 0, 0, 0, 0, 0),
		}},
		{"nothing", "America/New_York", "2026-01-01", "2026-01-02", persistence.DeliveryTimes{
			Days:      []dd{{Day: "2026-01-01"}, {Day: "2026-01-02"}},
			Histogram: hist(0, 0, 0, 0, 0, 0, 0, 0),
		}},
	}
	for _, tt := range tests {
		got, err := b.DeliveryTimes(ctx, tt.from, tt.to, tt.tz)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, got, tt.name)
		// A delivery here is a delivery in orders-by-day: every order
		// above has its creation line.
		counts, err := b.OrdersByDay(ctx, tt.from, tt.to, tt.tz)
		require.NoError(t, err, tt.name)
		for i, c := range counts {
			require.Equal(t, c.Delivered, got.Days[i].Delivered, "%s: %s delivered as orders-by-day counts", tt.name, c.Day)
		}
	}
	for _, bad := range [][3]string{
		{"2026-03-01", "2026-03-02", "Mars/Olympus_Mons"},
		{"2026-03-01", "2026-03-02", "Local"},
		{"2026-03-01", "March 2", "UTC"},
		{"2026-03-02", "2026-03-01", "UTC"},
		{"2000-01-01", "2026-03-01", "UTC"},
	} {
		_, err := b.DeliveryTimes(ctx, bad[0], bad[1], bad[2])
		require.Error(t, err, "%v", bad)
	}
}

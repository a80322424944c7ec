package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

func testOrdersByDay(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Parallel()
	b, ctx := open(t), t.Context()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	// Berlin is UTC+1 in early March 2026.
	lines := []actors.TimelineEntry{
		{OrderID: "a", Seq: 1, Status: "pending", At: at("2026-03-01T23:30:00Z")}, // Berlin: 2 March
		{OrderID: "b", Seq: 1, Status: "pending", At: at("2026-03-01T10:00:00Z")},
		{OrderID: "b", Seq: 2, Status: "assigned", At: at("2026-03-01T11:00:00Z")},
		{OrderID: "b", Seq: 3, Status: "pending", At: at("2026-03-01T12:00:00Z")}, // declined: not a creation
		{OrderID: "b", Seq: 4, Status: "delivered", At: at("2026-03-03T12:00:00Z")},
		{OrderID: "c", Seq: 1, Status: "pending", At: at("2026-03-01T22:30:00Z")},
		{OrderID: "c", Seq: 2, Status: "cancelled", At: at("2026-03-04T23:30:00Z")}, // Berlin: 5 March
		{OrderID: "d", Seq: 1, Status: "pending", At: at("2026-02-28T23:30:00Z")},   // Berlin: 1 March
		{OrderID: "d", Seq: 2, Status: "failed", At: at("2026-03-06T23:10:00Z")},    // Berlin: 7 March
		// Issue #14, finding 8: lines after a final status (a proof, a
		// payment, a note) repeat that status but are no transition into
		// it: they must not count again — on the same day or another, with
		// the transition inside the range asked or before it, and across a
		// gap in the line numbers (a redaction writes no line).
		{OrderID: "b", Seq: 5, Status: "delivered", At: at("2026-03-03T12:05:00Z")}, // proof, same day
		{OrderID: "b", Seq: 7, Status: "delivered", At: at("2026-03-04T09:00:00Z")}, // payment, next day, after a gap
		{OrderID: "c", Seq: 3, Status: "cancelled", At: at("2026-03-06T10:00:00Z")},
		{OrderID: "d", Seq: 3, Status: "failed", At: at("2026-03-07T10:00:00Z")},
	}
	for _, l := range lines {
		l.Metadata = map[string]string{}
		require.NoError(t, b.Commit(ctx, actors.Commit{Timeline: []actors.TimelineEntry{l}}))
	}
	type dc = persistence.DayCount
	tests := []struct {
		tz       string
		from, to string
		want     []dc
	}{
		{"Europe/Berlin", "2026-03-01", "2026-03-06", []dc{
			{Day: "2026-03-01", Created: 3}, {Day: "2026-03-02", Created: 1}, {Day: "2026-03-03", Delivered: 1},
			{Day: "2026-03-04"}, {Day: "2026-03-05", Cancelled: 1}, {Day: "2026-03-06"},
		}},
		{"UTC", "2026-03-01", "2026-03-06", []dc{
			{Day: "2026-03-01", Created: 3}, {Day: "2026-03-02"}, {Day: "2026-03-03", Delivered: 1},
			{Day: "2026-03-04", Cancelled: 1}, {Day: "2026-03-05"}, {Day: "2026-03-06", Failed: 1},
		}},
		{"Europe/Berlin", "2026-03-07", "2026-03-07", []dc{{Day: "2026-03-07", Failed: 1}}},
		{"America/New_York", "2026-01-01", "2026-01-02", []dc{{Day: "2026-01-01"}, {Day: "2026-01-02"}}},
	}
	for _, tt := range tests {
		got, err := b.OrdersByDay(ctx, tt.from, tt.to, tt.tz)
		require.NoError(t, err, tt.tz)
		require.Equal(t, tt.want, got, "%s %s..%s", tt.tz, tt.from, tt.to)
	}
	for _, bad := range [][3]string{
		{"2026-03-01", "2026-03-02", "Mars/Olympus_Mons"},
		{"2026-03-01", "March 2", "UTC"},
		{"2026-03-02", "2026-03-01", "UTC"},
	} {
		_, err := b.OrdersByDay(ctx, bad[0], bad[1], bad[2])
		require.Error(t, err, "%v", bad)
	}
}

package webhook_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/worker/webhook"
)

func fixed(r float64) func() float64 { return func() float64 { return r } }

func TestBackoff(t *testing.T) {
	t.Parallel()
	const base, cap = 100 * time.Millisecond, 10 * time.Second
	tests := []struct {
		name      string
		attempt   int
		base, max time.Duration
		rnd       float64
		want      time.Duration
	}{
		{name: "first retry, top of range", attempt: 0, base: base, max: cap, rnd: 1, want: base},
		{name: "first retry, half", attempt: 0, base: base, max: cap, rnd: 0.5, want: base / 2},
		{name: "doubles", attempt: 3, base: base, max: cap, rnd: 1, want: 8 * base},
		{name: "capped", attempt: 7, base: base, max: cap, rnd: 1, want: cap},
		{name: "bottom of range", attempt: 5, base: base, max: cap, rnd: 0, want: 0},
		{name: "negative attempt is the first", attempt: -4, base: base, max: cap, rnd: 1, want: base},
		{name: "rnd above 1 clamped", attempt: 1, base: base, max: cap, rnd: 7, want: 2 * base},
		{name: "rnd below 0 clamped", attempt: 1, base: base, max: cap, rnd: -7, want: 0},
		{name: "rnd NaN", attempt: 1, base: base, max: cap, rnd: math.NaN(), want: 0},
		{name: "zero base", attempt: 3, base: 0, max: cap, rnd: 1, want: 0},
		{name: "zero max", attempt: 3, base: base, max: 0, rnd: 1, want: 0},
		{name: "max below base", attempt: 0, base: base, max: base / 2, rnd: 1, want: base / 2},
		{name: "attempt 62 with 1ns", attempt: 62, base: 1, max: math.MaxInt64, rnd: 1, want: 1 << 62},
		{name: "attempt 63 overflows without cap", attempt: 63, base: 1, max: math.MaxInt64, rnd: 1, want: math.MaxInt64},
		{name: "huge attempt", attempt: math.MaxInt, base: base, max: cap, rnd: 0.999999, want: time.Duration(float64(cap) * 0.999999)},
		{name: "huge attempt, max duration", attempt: math.MaxInt, base: time.Hour, max: math.MaxInt64, rnd: 0.9999999999999999, want: 1<<63 - 1024}, // largest float64 below 2^63
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, webhook.Backoff(tt.attempt, tt.base, tt.max, fixed(tt.rnd)))
		})
	}
}

func TestBackoffCeilingIsMonotoneAndCapped(t *testing.T) {
	t.Parallel()
	const base, cap = 250 * time.Millisecond, time.Hour
	prev := time.Duration(0)
	for attempt := range 200 {
		d := webhook.Backoff(attempt, base, cap, fixed(1))
		require.GreaterOrEqual(t, d, prev, "attempt %d", attempt)
		require.LessOrEqual(t, d, cap, "attempt %d", attempt)
		prev = d
	}
	require.Equal(t, cap, prev)
}

func TestBackoffJitterWithinRange(t *testing.T) {
	t.Parallel()
	const base, cap = time.Second, time.Minute
	for _, attempt := range []int{0, 1, 4, 6, 30, 1000, math.MaxInt} {
		ceiling := cap
		if attempt < 6 {
			ceiling = base << attempt
		}
		lo, hi := ceiling, time.Duration(0)
		for range 2000 {
			d := webhook.Backoff(attempt, base, cap, nil)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, ceiling)
			lo, hi = min(lo, d), max(hi, d)
		}
		// Full jitter uses the whole range; 2000 draws missing a quarter
		// at either end has probability 2·0.75^2000.
		require.Less(t, lo, ceiling/4, "attempt %d", attempt)
		require.Greater(t, hi, ceiling*3/4, "attempt %d", attempt)
	}
}

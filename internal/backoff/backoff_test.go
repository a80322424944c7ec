package backoff_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/internal/backoff"
)

func fixed(r float64) func() float64 { return func() float64 { return r } }

func TestFullJitter(t *testing.T) {
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
			require.Equal(t, tt.want, backoff.FullJitter(tt.attempt, tt.base, tt.max, fixed(tt.rnd)))
		})
	}
}

func TestFullJitterCeilingIsMonotoneAndCapped(t *testing.T) {
	t.Parallel()
	const base, cap = 250 * time.Millisecond, time.Hour
	prev := time.Duration(0)
	for attempt := range 200 {
		d := backoff.FullJitter(attempt, base, cap, fixed(1))
		require.GreaterOrEqual(t, d, prev, "attempt %d", attempt)
		require.LessOrEqual(t, d, cap, "attempt %d", attempt)
		prev = d
	}
	require.Equal(t, cap, prev)
}

func TestFullJitterWithinRange(t *testing.T) {
	t.Parallel()
	const base, cap = time.Second, time.Minute
	for _, attempt := range []int{0, 1, 4, 6, 30, 1000, math.MaxInt} {
		ceiling := cap
		if attempt < 6 {
			ceiling = base << attempt
		}
		lo, hi := ceiling, time.Duration(0)
		for range 2000 {
			d := backoff.FullJitter(attempt, base, cap, nil)
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

func TestCeiling(t *testing.T) {
	t.Parallel()
	const base, cap = 100 * time.Millisecond, 10 * time.Second
	tests := []struct {
		name      string
		n         int
		base, max time.Duration
		want      time.Duration
	}{
		{name: "first", n: 0, base: base, max: cap, want: base},
		{name: "doubles", n: 3, base: base, max: cap, want: 8 * base},
		{name: "last below max", n: 6, base: base, max: cap, want: 64 * base},
		{name: "capped", n: 7, base: base, max: cap, want: cap},
		{name: "negative n is the first", n: -4, base: base, max: cap, want: base},
		{name: "zero base", n: 3, base: 0, max: cap, want: 0},
		{name: "negative base", n: 3, base: -base, max: cap, want: 0},
		{name: "zero max", n: 3, base: base, max: 0, want: 0},
		{name: "max below base", n: 0, base: base, max: base / 2, want: base / 2},
		{name: "n 62 with 1ns", n: 62, base: 1, max: math.MaxInt64, want: 1 << 62},
		{name: "n 63 overflows without cap", n: 63, base: 1, max: math.MaxInt64, want: math.MaxInt64},
		{name: "huge n", n: math.MaxInt, base: time.Hour, max: math.MaxInt64, want: math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, backoff.Ceiling(tt.n, tt.base, tt.max))
		})
	}
}

func TestUniform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		lo, hi time.Duration
	}{
		{name: "cluster first retry (floor is ceiling)", lo: 20 * time.Millisecond, hi: 20 * time.Millisecond},
		{name: "cluster later retry", lo: 20 * time.Millisecond, hi: 320 * time.Millisecond},
		{name: "ceiling below floor keeps floor", lo: time.Second, hi: time.Millisecond},
		{name: "one nanosecond wide", lo: 5, hi: 6},
		{name: "from zero", lo: 0, hi: time.Second},
		{name: "whole range", lo: math.MinInt64, hi: math.MaxInt64},
		{name: "widest positive", lo: 0, hi: math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hi := max(tt.lo, tt.hi)
			seen := map[time.Duration]bool{}
			for range 2000 {
				d := backoff.Uniform(tt.lo, tt.hi)
				require.GreaterOrEqual(t, d, tt.lo)
				require.LessOrEqual(t, d, hi)
				seen[d] = true
			}
			if hi-tt.lo == 1 {
				// Both ends are reachable: [lo, hi] includes hi.
				require.Len(t, seen, 2)
			}
		})
	}
}

func TestUniformSpreads(t *testing.T) {
	t.Parallel()
	const lo, hi = 20 * time.Millisecond, 1020 * time.Millisecond
	low, high := hi, lo
	for range 2000 {
		d := backoff.Uniform(lo, hi)
		low, high = min(low, d), max(high, d)
	}
	// Missing a tenth of the range at either end in 2000 draws has
	// probability 2·0.9^2000.
	require.Less(t, low, lo+(hi-lo)/10)
	require.Greater(t, high, hi-(hi-lo)/10)
}

func TestSleep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		d       time.Duration
		cancel  bool
		wantErr error
	}{
		{name: "waits the pause", d: 20 * time.Millisecond},
		{name: "zero pause", d: 0},
		{name: "ends with the context", d: time.Hour, cancel: true, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			start := time.Now()
			err := backoff.Sleep(ctx, tt.d)
			require.ErrorIs(t, err, tt.wantErr)
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.GreaterOrEqual(t, time.Since(start), tt.d)
			} else {
				require.Less(t, time.Since(start), time.Minute)
			}
		})
	}
}

func TestSleepOrWake(t *testing.T) {
	t.Parallel()
	woken := make(chan struct{}, 1)
	woken <- struct{}{}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for name, tc := range map[string]struct {
		ctx     context.Context
		d       time.Duration
		wake    <-chan struct{}
		live    bool
		atMost  time.Duration
		atLeast time.Duration
	}{
		"woken early":      {context.Background(), time.Hour, woken, true, time.Second, 0},
		"nil wake waits d": {context.Background(), 30 * time.Millisecond, nil, true, time.Second, 30 * time.Millisecond},
		"ended context":    {cancelled, time.Hour, nil, false, time.Second, 0},
	} {
		start := time.Now()
		require.Equal(t, tc.live, backoff.SleepOrWake(tc.ctx, tc.d, tc.wake), name)
		require.Less(t, time.Since(start), tc.atMost, name)
		require.GreaterOrEqual(t, time.Since(start), tc.atLeast, name)
	}
}

// Package backoff says how long to wait before retrying and waits it out.
// Every retry loop in Outrider takes its pauses from here, so the bounds
// and the jitter of each are written once and tested once.
//
// Start with [Ceiling], the exponential part: min(max, base·2^n), safe
// from overflow for any n. The jitter comes on top of it:
//
//   - [FullJitter] draws from [0, ceiling] ("full jitter"): the webhook and
//     event-worker redeliveries, where many deliveries failing together (an
//     endpoint's outage) must come back spread out, not in waves;
//   - [Uniform] draws from a range with a floor, for callers whose shortest
//     pause matters (the cluster's request retries wait at least
//     BackoffBase: [Uniform](base, [Ceiling](…))).
//
// [Sleep] waits a pause unless the context ends first.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Ceiling returns min(max, base·2^n), the longest pause before retry n
// (n counts from 0). The doubling never overflows, whatever n is. A
// negative n counts as 0; a non-positive base or max yields 0.
func Ceiling(n int, base, max time.Duration) time.Duration {
	if base <= 0 || max <= 0 {
		return 0
	}
	if n < 0 {
		n = 0
	}
	// base<<n overflows or exceeds max exactly when base > max>>n.
	if n < 63 && base <= max>>n {
		return base << n
	}
	return max
}

// FullJitter returns how long to wait before retry n (n counts from 0: the
// first retry after one failure), using "full jitter": a duration drawn
// uniformly from [0, [Ceiling](n, base, max)]. Full jitter spreads the
// retries of many operations that failed together instead of bringing them
// back in waves.
//
// The result is never negative and never above max, whatever n is. A
// negative n counts as 0, a non-positive base or max yields 0. rnd returns a
// float in [0, 1) (values outside are clamped); nil means math/rand/v2's
// Float64. Tests pass a fixed rnd.
func FullJitter(n int, base, max time.Duration, rnd func() float64) time.Duration {
	ceiling := Ceiling(n, base, max)
	if ceiling == 0 {
		return 0
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	r := rnd()
	switch {
	case r != r || r <= 0: // NaN or below range
		return 0
	case r >= 1:
		return ceiling
	}
	f := float64(ceiling) * r
	// float64(ceiling) can round up (to 2^63 near MaxInt64); never convert
	// a value that does not fit.
	if f >= float64(ceiling) {
		return ceiling
	}
	return time.Duration(f)
}

// Uniform returns a duration drawn uniformly from [lo, hi], both included,
// in whole nanoseconds (math/rand/v2's N). When hi <= lo it returns lo, so
// a ceiling below the floor never shortens the floor.
func Uniform(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	span := hi - lo
	if span < 0 || span == 1<<63-1 {
		// More values than a Duration counts: no pause is that long, but
		// keep the bounds (the draw covers the first MaxInt64-1 ns).
		return lo + rand.N(time.Duration(1<<63-1))
	}
	return lo + rand.N(span+1)
}

// Sleep waits d, or until ctx ends. It returns nil once d has passed and
// ctx.Err() if ctx ended first; when both have happened it may return
// either, so a caller that must not go on after ctx ends checks ctx.Err()
// itself. The timer is released either way.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SleepOrWake waits d, or until wake receives (a nil wake never does), or
// ctx ends; it reports whether ctx is still live. Loops that poll, and
// that a producer can wake early (the outbox relay, the deadline
// scheduler), pause with it.
func SleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
		return false
	}
	return true
}

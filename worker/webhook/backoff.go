package webhook

import (
	"math/rand/v2"
	"time"
)

// Backoff returns how long to wait before the next attempt after attempt
// failures (attempt 0 is the first retry), using "full jitter": a duration
// drawn uniformly from [0, min(max, base·2^attempt)]. Full jitter spreads the
// retries of many deliveries that failed together (an endpoint's outage)
// instead of bringing them back in waves.
//
// The result is never negative and never above max, whatever attempt is:
// the doubling is done without overflow. A negative attempt counts as 0, a
// non-positive base or max yields 0. rnd returns a float in [0, 1) (values
// outside are clamped); nil means math/rand/v2's Float64. Tests pass a fixed
// rnd.
func Backoff(attempt int, base, max time.Duration, rnd func() float64) time.Duration {
	if base <= 0 || max <= 0 {
		return 0
	}
	if attempt < 0 {
		attempt = 0
	}
	ceiling := max
	// base<<attempt overflows or exceeds max exactly when base > max>>attempt.
	if attempt < 63 && base <= max>>attempt {
		ceiling = base << attempt
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

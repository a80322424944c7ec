package main

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"time"
)

// percentile is the nearest-rank q-th percentile (0 < q ≤ 100) of sorted
// samples; 0 for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// summary is p50/p90/p99/max of samples (which it sorts).
type summary struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func summarize(samples []time.Duration) summary {
	slices.Sort(samples)
	s := summary{n: len(samples)}
	if len(samples) > 0 {
		s.p50, s.p90, s.p99 = percentile(samples, 50), percentile(samples, 90), percentile(samples, 99)
		s.max = samples[len(samples)-1]
	}
	return s
}

func (s summary) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s ms (n=%s)", ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max), commas(float64(s.n)))
}

// eventAt finds the `at` of an event frame without decoding the whole
// frame: the frame ends with `,"at":"<RFC 3339>"}` (transport/ws
// eventFrame), and the order inside `data` has its own timestamps, so
// the last "at" key is the one.
func eventAt(msg []byte) (time.Time, bool) {
	key := []byte(`"at":"`)
	i := bytes.LastIndex(msg, key)
	if i < 0 {
		return time.Time{}, false
	}
	rest := msg[i+len(key):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	return at, err == nil
}

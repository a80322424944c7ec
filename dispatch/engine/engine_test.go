package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/dispatch/engine"
)

// TestRadius: the circle doubles once per round interval since the run
// started, Widening times at most, and never passes MaxRadiusM.
func TestRadius(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		radius   float64
		widening int
		elapsed  time.Duration
		want     float64
	}{
		{"the first round", 5000, 2, 0, 5000},
		{"a round before the run starts (scheduled, early fire)", 5000, 2, -time.Second, 5000},
		{"still the first interval", 5000, 2, 9 * time.Second, 5000},
		{"the second interval", 5000, 2, 10 * time.Second, 10_000},
		{"the third", 5000, 2, 25 * time.Second, 20_000},
		{"no wider than Widening allows", 5000, 2, time.Hour, 20_000},
		{"no widening", 5000, 0, time.Hour, 5000},
		{"never past MaxRadiusM", 30_000, 4, time.Hour, engine.MaxRadiusM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := engine.New(nil, nil, nil, engine.Config{RadiusM: tc.radius, Widening: tc.widening, RoundInterval: 10 * time.Second})
			require.NoError(t, err)
			require.InDelta(t, tc.want, e.Radius(tc.elapsed), 1e-9)
		})
	}
}

func TestDistanceScorer(t *testing.T) {
	t.Parallel()
	near := engine.Candidate{DriverID: "b", DistanceM: 100, Active: 3, Capacity: 4}
	far := engine.Candidate{DriverID: "a", DistanceM: 101}
	require.Less(t, engine.Distance(near), engine.Distance(far), "nearer is better whatever the load")
}

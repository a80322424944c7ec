package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
)

// The trace export's settings: a ratio outside 0..1 stops the start, and
// an endpoint on a binary without the exporter says how to get one.
func TestParseOTLPSettings(t *testing.T) {
	clearEnv(t)
	cfg, _, err := parse("serve", []string{testSecret})
	require.NoError(t, err)
	require.Empty(t, cfg.OTLPEndpoint, "export is off by default")
	require.Equal(t, 1.0, cfg.OTLPSampleRatio)

	for _, bad := range []string{"-0.1", "1.5"} {
		_, _, err := parse("serve", []string{testSecret, "--otlp-sample-ratio=" + bad})
		require.ErrorContains(t, err, "OUTRIDER_OTLP_SAMPLE_RATIO", bad)
	}

	t.Setenv("OUTRIDER_OTLP_ENDPOINT", "http://otel-collector:4318")
	t.Setenv("OUTRIDER_OTLP_SAMPLE_RATIO", "0.25")
	cfg, _, err = parse("serve", []string{testSecret})
	if !app.OTLPBuilt {
		require.ErrorContains(t, err, "-tags otlp")
		return
	}
	require.NoError(t, err)
	require.Equal(t, "http://otel-collector:4318", cfg.OTLPEndpoint)
	require.Equal(t, 0.25, cfg.OTLPSampleRatio)
}

// The batch bounds of the gateway reach its configuration.
func TestParseBatchBounds(t *testing.T) {
	clearEnv(t)
	cfg, _, err := parse("serve", []string{testSecret})
	require.NoError(t, err)
	require.Equal(t, 64, cfg.WS.MaxBatchFrames)
	require.Equal(t, 16<<10, cfg.WS.MaxBatchBytes)
	t.Setenv("OUTRIDER_WS_MAX_BATCH_FRAMES", "8")
	cfg, _, err = parse("serve", []string{testSecret, "--ws-max-batch-bytes=4096"})
	require.NoError(t, err)
	require.Equal(t, 8, cfg.WS.MaxBatchFrames)
	require.Equal(t, 4096, cfg.WS.MaxBatchBytes)
}

package persistence_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence"
)

// TestWebhookDisabledReason: the reason names the number of failures,
// when the last one happened (RFC 3339 UTC, DESIGN.md §3) and what it
// was, preferring the HTTP status to the error.
func TestWebhookDisabledReason(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name     string
		failures int
		a        persistence.WebhookAttempt
		want     string
	}{
		{"HTTP status", 5, persistence.WebhookAttempt{StatusCode: 503, At: at},
			"disabled after 5 consecutive failed attempts; the last, at 2026-03-01T12:00:00Z: HTTP 503"},
		{"status wins over error", 3, persistence.WebhookAttempt{StatusCode: 410, Error: "gone", At: at},
			"disabled after 3 consecutive failed attempts; the last, at 2026-03-01T12:00:00Z: HTTP 410"},
		{"transport error", 3, persistence.WebhookAttempt{Error: "dial tcp: connection refused", At: at},
			"disabled after 3 consecutive failed attempts; the last, at 2026-03-01T12:00:00Z: dial tcp: connection refused"},
		{"nothing known", 1, persistence.WebhookAttempt{At: at},
			"disabled after 1 consecutive failed attempts; the last, at 2026-03-01T12:00:00Z: no answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, persistence.WebhookDisabledReason(tt.failures, tt.a))
		})
	}
}

package email_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/worker/email"
)

func TestLogSender(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := email.NewLogSender(logger, "Outrider <dispatch@outrider.test>")
	require.NoError(t, err)
	var _ email.Sender = s

	require.NoError(t, s.Send(t.Context(), email.Message{
		To:      []string{"Ada <ada@example.com>", "bob@example.org"},
		Subject: "Livraison en route",
		Text:    "On its way.",
		HTML:    "<p>On its way.</p>",
		Headers: map[string]string{"Message-Id": "<n1@outrider.test>"},
	}))
	var info, debug map[string]any
	dec := json.NewDecoder(&buf)
	require.NoError(t, dec.Decode(&info))
	require.NoError(t, dec.Decode(&debug))
	require.Equal(t, "INFO", info["level"])
	require.Equal(t, []any{"ada@example.com", "bob@example.org"}, info["to"])
	require.Equal(t, "Livraison en route", info["subject"])
	require.Equal(t, "<n1@outrider.test>", info["message_id"])
	require.Equal(t, true, info["html"])
	require.Positive(t, info["bytes"])
	require.Equal(t, "DEBUG", debug["level"])
	require.Equal(t, "On its way.", debug["text"])

	err = s.Send(t.Context(), email.Message{To: []string{"a@example.com"}, Subject: "x\r\nBcc: v@example.com", Text: "t"})
	require.ErrorIs(t, err, email.ErrHeaderInjection)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, s.Send(ctx, email.Message{To: []string{"a@example.com"}, Text: "t"}), context.Canceled)
	require.False(t, dec.More(), "refused messages are not logged as sent")

	_, err = email.NewLogSender(logger, "nobody")
	require.ErrorIs(t, err, email.ErrInvalidMessage)
}

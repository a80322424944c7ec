package email

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"time"
)

// LogSender logs messages instead of sending them, for development without
// an SMTP server. It validates and builds each message exactly as
// SMTPSender would, so invalid messages fail in development too.
type LogSender struct {
	log  *slog.Logger
	from *mail.Address
	now  func() time.Time
}

var _ Sender = (*LogSender)(nil)

// NewLogSender returns a LogSender writing to logger, with from as the
// sender address the messages are built with.
func NewLogSender(logger *slog.Logger, from string) (*LogSender, error) {
	a, err := parseAddress("From", from)
	if err != nil {
		return nil, fmt.Errorf("log sender: %w", err)
	}
	return &LogSender{log: logger, from: a, now: time.Now}, nil
}

// Send builds m and logs its recipients, subject, Message-Id and size at
// Info, and the text body at Debug. It fails only for an invalid message
// or a done ctx.
func (s *LogSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("log mail: %w", err)
	}
	msg, err := build(m, s.from, s.now())
	if err != nil {
		return fmt.Errorf("log mail: %w", err)
	}
	s.log.InfoContext(ctx, "email not sent: no SMTP server configured",
		"to", msg.rcpts, "subject", m.Subject, "message_id", msg.messageID,
		"bytes", len(msg.raw), "html", m.HTML != "")
	s.log.DebugContext(ctx, "email text", "message_id", msg.messageID, "text", m.Text)
	return nil
}

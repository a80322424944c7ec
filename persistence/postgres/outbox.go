package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/outrider/outrider/actors"
)

// These two methods serve the outbox relay (not yet part of
// persistence.Backend). Several nodes may relay at once: a message can be
// published twice, which the bus de-duplicates by message id
// (OutboxMessage.ID as Nats-Msg-Id).

// UnpublishedOutbox returns up to limit messages not yet marked published,
// oldest first.
func (s *Store) UnpublishedOutbox(ctx context.Context, limit int) ([]actors.OutboxMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, subject, payload, created_at, trace FROM outbox
		WHERE published_at IS NULL ORDER BY pos LIMIT $1`, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []actors.OutboxMessage
	for rows.Next() {
		var m actors.OutboxMessage
		if err := rows.Scan(&m.ID, &m.Subject, &m.Payload, &m.At, &m.Trace); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		m.At = m.At.UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// MarkOutboxPublished removes the messages ids: JetStream holds them now,
// and the journal is the history (resume replays from it), so keeping
// published rows would only grow the table and its indexes.
func (s *Store) MarkOutboxPublished(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("mark outbox published: %w", err)
	}
	return nil
}

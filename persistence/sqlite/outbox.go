package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outrider/outrider/actors"
)

// These two methods serve the outbox relay. A message can be published
// twice (a crash between publish and mark), which the bus de-duplicates by
// message id (OutboxMessage.ID as Nats-Msg-Id).

// UnpublishedOutbox returns up to limit messages not yet marked published,
// oldest first (by commit time, then id).
func (s *Store) UnpublishedOutbox(ctx context.Context, limit int) ([]actors.OutboxMessage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, subject, payload, created_at, trace FROM outbox
		WHERE published_at IS NULL ORDER BY pos LIMIT ?`, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []actors.OutboxMessage
	for rows.Next() {
		var (
			m  actors.OutboxMessage
			at int64
		)
		if err := rows.Scan(&m.ID, &m.Subject, &m.Payload, &at, &m.Trace); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		m.Payload, m.At = nonNil(m.Payload), fromMicros(at)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// markBatch bounds the ids bound to one DELETE, well under SQLite's limit
// on host parameters.
const markBatch = 500

// MarkOutboxPublished removes the messages ids in one write transaction:
// JetStream holds them now and the journal is the history. Unknown or
// already removed ids are skipped.
func (s *Store) MarkOutboxPublished(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for chunk := range slices.Chunk(ids, markBatch) {
			args := make([]any, 0, len(chunk))
			for _, id := range chunk {
				args = append(args, id)
			}
			q := `DELETE FROM outbox WHERE id IN (?` +
				strings.Repeat(", ?", len(chunk)-1) + `)`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark outbox published: %w", err)
	}
	return nil
}

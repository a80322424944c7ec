package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/outrider/outrider/actors"
)

// Version returns the newest journal seq of (kind, id), 0 when it has
// none: a backward scan of the journal's primary key that reads one entry.
func (s *Store) Version(ctx context.Context, kind, id string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM journal WHERE kind = $1 AND entity_id = $2`,
		kind, id).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("version %s %s: %w", kind, id, err)
	}
	return v, nil
}

// JournalEvents returns an entity's journal events with seq > after, in
// order. Realtime resume replays from it (I4).
func (s *Store) JournalEvents(ctx context.Context, kind, id string, after int64) ([]actors.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, type, payload, command_id, at FROM journal
		WHERE kind = $1 AND entity_id = $2 AND seq > $3 ORDER BY seq`, kind, id, after)
	if err != nil {
		return nil, fmt.Errorf("journal %s %s: %w", kind, id, err)
	}
	defer rows.Close()
	var out []actors.Event
	for rows.Next() {
		e := actors.Event{Kind: kind, EntityID: id}
		var at time.Time
		if err := rows.Scan(&e.Seq, &e.Type, &e.Payload, &e.CommandID, &at); err != nil {
			return nil, fmt.Errorf("journal %s %s: %w", kind, id, err)
		}
		e.At = at.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal %s %s: %w", kind, id, err)
	}
	return out, nil
}

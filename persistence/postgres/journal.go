package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/outrider/outrider/actors"
)

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

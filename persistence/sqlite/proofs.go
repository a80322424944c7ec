package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/outrider/outrider/persistence"
)

// ListProofs returns an order's proofs, oldest first.
func (s *Store) ListProofs(ctx context.Context, orderID string) ([]persistence.Proof, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT order_id, seq, key, content_type, size, by_user_id,
		COALESCE(thumbnail_key, ''), created_at FROM proofs WHERE order_id = ? ORDER BY seq`, orderID)
	if err != nil {
		return nil, fmt.Errorf("proofs of %s: %w", orderID, err)
	}
	defer rows.Close()
	out := []persistence.Proof{}
	for rows.Next() {
		var (
			p  persistence.Proof
			at int64
		)
		if err := rows.Scan(&p.OrderID, &p.Seq, &p.Key, &p.ContentType, &p.Size, &p.ByUserID,
			&p.ThumbnailKey, &at); err != nil {
			return nil, fmt.Errorf("proofs of %s: %w", orderID, err)
		}
		p.At = fromMicros(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("proofs of %s: %w", orderID, err)
	}
	return out, nil
}

// SetProofThumbnail records the thumbnail of a proof.
func (s *Store) SetProofThumbnail(ctx context.Context, orderID, key, thumbnailKey string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE proofs SET thumbnail_key = ? WHERE order_id = ? AND key = ?`,
			thumbnailKey, orderID, key)
		if err != nil {
			return fmt.Errorf("set thumbnail of proof %s: %w", key, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFound("proof", key)
		}
		return nil
	})
}

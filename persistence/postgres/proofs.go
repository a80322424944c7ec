package postgres

import (
	"context"
	"fmt"

	"github.com/outrider/outrider/persistence"
)

// ListProofs returns an order's proofs, oldest first.
func (s *Store) ListProofs(ctx context.Context, orderID string) ([]persistence.Proof, error) {
	rows, err := s.pool.Query(ctx, `SELECT order_id, seq, key, content_type, size, by_user_id,
		COALESCE(thumbnail_key, ''), created_at FROM proofs WHERE order_id = $1 ORDER BY seq`, orderID)
	if err != nil {
		return nil, fmt.Errorf("proofs of %s: %w", orderID, err)
	}
	defer rows.Close()
	out := []persistence.Proof{}
	for rows.Next() {
		var p persistence.Proof
		if err := rows.Scan(&p.OrderID, &p.Seq, &p.Key, &p.ContentType, &p.Size, &p.ByUserID,
			&p.ThumbnailKey, &p.At); err != nil {
			return nil, fmt.Errorf("proofs of %s: %w", orderID, err)
		}
		p.At = p.At.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("proofs of %s: %w", orderID, err)
	}
	return out, nil
}

// SetProofThumbnail records the thumbnail of a proof.
func (s *Store) SetProofThumbnail(ctx context.Context, orderID, key, thumbnailKey string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE proofs SET thumbnail_key = $3 WHERE order_id = $1 AND key = $2`,
		orderID, key, thumbnailKey)
	if err != nil {
		return fmt.Errorf("set thumbnail of proof %s: %w", key, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("proof", key)
	}
	return nil
}

package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/outrider/outrider/worker/thumbnail"
)

// ThumbnailKey is where the thumbnail of proof key is stored.
func ThumbnailKey(key string) string { return key + ".thumb.jpg" }

// thumbnails makes the missing thumbnails of the order's proofs when a
// proof is added. Working from the proofs table rather than the event
// makes it idempotent and self-healing: a redelivery, or the next proof,
// finishes whatever a crash left undone.
func (w *Worker) thumbnails(ctx context.Context, msg jetstream.Msg, _ int) error {
	p, err := decodeEvent(msg)
	if err != nil {
		return err
	}
	if p.Type != "order.proof_added" {
		return nil
	}
	proofs, err := w.d.Store.ListProofs(ctx, p.OrderID)
	if err != nil {
		return err
	}
	var errs []error
	for _, pr := range proofs {
		if pr.ThumbnailKey != "" {
			continue
		}
		if err := w.thumbnail(ctx, pr.OrderID, pr.Key, pr.ContentType); err != nil {
			errs = append(errs, fmt.Errorf("proof %s: %w", pr.Key, err))
		}
	}
	err = errors.Join(errs...)
	for _, e := range errs {
		if errors.Is(e, thumbnail.ErrUnsupported) || errors.Is(e, thumbnail.ErrTooManyPixels) ||
			errors.Is(e, thumbnail.ErrCorrupt) || errors.Is(e, thumbnail.ErrTooLarge) {
			// The image will never decode: say so once, in the DLQ.
			return permanent(err)
		}
	}
	return err
}

func (w *Worker) thumbnail(ctx context.Context, orderID, key, contentType string) error {
	rc, _, err := w.d.Blobs.Open(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	thumb, _, err := thumbnail.Make(rc, contentType, w.cfg.Thumbnail)
	if err != nil {
		return err
	}
	tk := ThumbnailKey(key)
	if err := w.d.Blobs.Put(ctx, tk, "image/jpeg", bytes.NewReader(thumb), int64(len(thumb))); err != nil {
		return err
	}
	return w.d.Store.SetProofThumbnail(ctx, orderID, key, tk)
}

-- +goose Up
-- The relay must publish an order's events in seq order (I4). created_at
-- and the text id do not give that (same millisecond, clock steps); an
-- insertion position does: one order's commits are serialised by its
-- actor, so their positions grow with seq.
ALTER TABLE outbox ADD COLUMN pos bigserial;
CREATE INDEX outbox_unpublished_pos ON outbox (pos) WHERE published_at IS NULL;

-- +goose Down
DROP INDEX outbox_unpublished_pos;
ALTER TABLE outbox DROP COLUMN pos;

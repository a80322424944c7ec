-- The Postgres migration of the same number: an order's open offer's
-- deadline (unix microseconds), null when no offer is open.

-- +goose Up
ALTER TABLE orders ADD COLUMN offer_expires_at INTEGER;

-- +goose Down
ALTER TABLE orders DROP COLUMN offer_expires_at;

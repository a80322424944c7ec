-- An assigned order is an offer to its driver with a deadline (DESIGN.md
-- §7): the read model shows when it lapses, null when no offer is open.

-- +goose Up
ALTER TABLE orders ADD COLUMN offer_expires_at timestamptz;

-- +goose Down
ALTER TABLE orders DROP COLUMN offer_expires_at;

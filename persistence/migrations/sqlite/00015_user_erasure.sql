-- The Postgres migration of the same number: when the account's personal
-- data was erased (unix microseconds), null while it was not; the index
-- that finds an order's notifications by their event id.

-- +goose Up
ALTER TABLE users ADD COLUMN erased_at INTEGER;
CREATE INDEX notifications_event_idx ON notifications (event_id);

-- +goose Down
DROP INDEX notifications_event_idx;
ALTER TABLE users DROP COLUMN erased_at;

-- The Postgres migration of the same number: indexes for the worker's
-- retention trims.

-- +goose Up
CREATE INDEX location_history_at_idx ON location_history (at);
CREATE INDEX notifications_read_at_idx ON notifications (read_at) WHERE read_at IS NOT NULL;
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- +goose Down
DROP INDEX idempotency_keys_created_idx;
DROP INDEX refresh_tokens_expires_idx;
DROP INDEX notifications_read_at_idx;
DROP INDEX location_history_at_idx;

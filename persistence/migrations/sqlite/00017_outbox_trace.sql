-- The Postgres migration of the same number: the committing span's W3C
-- traceparent on each outbox message, '' when not traced.

-- +goose Up
ALTER TABLE outbox ADD COLUMN trace TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE outbox DROP COLUMN trace;

-- +goose Up
-- The worker trims old rows (worker.Config.Retention); see the Postgres
-- migration of the same name.
CREATE INDEX processed_messages_at ON processed_messages (at);

-- +goose Down
DROP INDEX processed_messages_at;

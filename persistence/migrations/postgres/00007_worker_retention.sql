-- +goose Up
-- The worker trims old rows (worker.Config.Retention): processed-message
-- marks once no redelivery can reach them, webhook attempts after their
-- retention. Attempts are trimmed by their time-ordered id (primary key).
CREATE INDEX processed_messages_at ON processed_messages (at);

-- +goose Down
DROP INDEX processed_messages_at;

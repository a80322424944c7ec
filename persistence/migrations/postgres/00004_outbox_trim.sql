-- +goose Up
-- Published rows are now deleted (the journal is the history), and the
-- relay reads by pos: the created_at index only cost writes.
DROP INDEX IF EXISTS outbox_unpublished_idx;

-- +goose Down
CREATE INDEX outbox_unpublished_idx ON outbox (created_at, id) WHERE published_at IS NULL;

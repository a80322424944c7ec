-- The Postgres migration of the same number: when a user's earlier access
-- tokens were revoked (unix microseconds), null when never.

-- +goose Up
ALTER TABLE users ADD COLUMN tokens_revoked_before INTEGER;
CREATE INDEX users_tokens_revoked_idx ON users (tokens_revoked_before) WHERE tokens_revoked_before IS NOT NULL;

-- +goose Down
DROP INDEX users_tokens_revoked_idx;
ALTER TABLE users DROP COLUMN tokens_revoked_before;

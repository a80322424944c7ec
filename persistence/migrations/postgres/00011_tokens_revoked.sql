-- Access tokens issued before a user's tokens_revoked_before are refused
-- on every node (logout, a reused refresh token): the nodes learn of a
-- revocation over the bus and reload the recent ones from here.

-- +goose Up
ALTER TABLE users ADD COLUMN tokens_revoked_before timestamptz;
CREATE INDEX users_tokens_revoked_idx ON users (tokens_revoked_before) WHERE tokens_revoked_before IS NOT NULL;

-- +goose Down
DROP INDEX users_tokens_revoked_idx;
ALTER TABLE users DROP COLUMN tokens_revoked_before;

-- The Postgres migration of the same number: password reset tokens, by the
-- hex SHA-256 of the token (times in unix microseconds, UTC).

-- +goose Up
CREATE TABLE password_resets (
    hash       TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL COLLATE BINARY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX password_resets_user_idx ON password_resets (user_id, created_at);
CREATE INDEX password_resets_expires_idx ON password_resets (expires_at);

-- +goose Down
DROP TABLE password_resets;

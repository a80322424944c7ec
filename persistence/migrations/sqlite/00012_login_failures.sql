-- The Postgres migration of the same number: failed logins per key.

-- +goose Up
CREATE TABLE login_failures (
    key             TEXT    NOT NULL COLLATE BINARY PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL -- unix microseconds, UTC
) STRICT, WITHOUT ROWID;
CREATE INDEX login_failures_last_idx ON login_failures (last_failure_at);

-- +goose Down
DROP TABLE login_failures;

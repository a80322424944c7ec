-- Failed logins per key (an account, an account from one address), shared
-- by every node: the API delays further attempts as failures pile up.

-- +goose Up
CREATE TABLE login_failures (
    key             text PRIMARY KEY,
    failures        integer NOT NULL,
    last_failure_at timestamptz NOT NULL
);
CREATE INDEX login_failures_last_idx ON login_failures (last_failure_at);

-- +goose Down
DROP TABLE login_failures;

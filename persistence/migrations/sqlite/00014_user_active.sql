-- The Postgres migration of the same number: whether the account is on.

-- +goose Up
ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1));

-- +goose Down
ALTER TABLE users DROP COLUMN active;

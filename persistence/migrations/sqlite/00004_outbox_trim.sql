-- Empty in SQLite: the Postgres migration of the same number drops the
-- outbox's created_at index, which SQLite's 00001_init.sql never created.
-- Kept so that both dialects number every change alike; goose records it
-- as applied.

-- +goose Up

-- +goose Down

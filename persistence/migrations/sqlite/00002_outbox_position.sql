-- Empty in SQLite: the Postgres migration of the same number gives the
-- outbox its insertion position (pos), which SQLite's 00001_init.sql
-- already has (its rowid alias, INTEGER PRIMARY KEY AUTOINCREMENT, with the
-- relay's partial index). Kept so that both dialects number every change
-- alike; goose records it as applied.

-- +goose Up

-- +goose Down

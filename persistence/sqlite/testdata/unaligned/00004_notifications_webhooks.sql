-- +goose Up
-- The tables of persistence/migrations/00006_notifications_webhooks.sql,
-- translated as in 00001_init.sql (timestamps as INTEGER microseconds, JSON
-- as TEXT, ids with the BINARY collation). Differences:
--
--   * webhooks.event_types is a JSON array of strings; WebhooksFor reads it
--     with json_each. JSON columns are checked, as jsonb and text[] are.
--   * notifications and webhook_attempts keep their rowid: their rows carry
--     bodies of any size (payload, error, response snippet), which SQLite
--     advises against in WITHOUT ROWID tables.

-- A user's inbox; (user_id, event_id) is the worker's idempotency key.
CREATE TABLE notifications (
    id         TEXT    NOT NULL COLLATE BINARY PRIMARY KEY,
    user_id    TEXT    NOT NULL COLLATE BINARY,
    type       TEXT    NOT NULL,
    event_id   TEXT    NOT NULL COLLATE BINARY,
    payload    TEXT    NOT NULL CHECK (json_valid(payload)),
    read_at    INTEGER,                          -- NULL while unread
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, event_id)
) STRICT;
-- A user's inbox, newest first, paged by id.
CREATE INDEX notifications_user_idx ON notifications (user_id, id);
-- The same for unread ones only, and "mark all read"; as small as the
-- unread backlog.
CREATE INDEX notifications_unread_idx ON notifications (user_id, id) WHERE read_at IS NULL;

-- Messages a consumer has handled (side effects with no natural key).
CREATE TABLE processed_messages (
    consumer TEXT    NOT NULL,
    id       TEXT    NOT NULL COLLATE BINARY,
    at       INTEGER NOT NULL,
    PRIMARY KEY (consumer, id)
) STRICT, WITHOUT ROWID;

-- Endpoints registered by admins; a handful of rows, scanned by WebhooksFor.
CREATE TABLE webhooks (
    id                   TEXT    NOT NULL COLLATE BINARY PRIMARY KEY,
    url                  TEXT    NOT NULL,
    description          TEXT    NOT NULL DEFAULT '',
    secret               TEXT    NOT NULL,
    event_types          TEXT    NOT NULL CHECK (json_type(event_types) = 'array'),
    enabled              INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    disabled_reason      TEXT    NOT NULL DEFAULT '',
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- One row per delivery attempt; trimmed by id range (ids are time-ordered).
CREATE TABLE webhook_attempts (
    id               TEXT    NOT NULL COLLATE BINARY PRIMARY KEY,
    webhook_id       TEXT    NOT NULL COLLATE BINARY REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id      TEXT    NOT NULL COLLATE BINARY,
    event_id         TEXT    NOT NULL COLLATE BINARY,
    event_type       TEXT    NOT NULL,
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    success          INTEGER NOT NULL CHECK (success IN (0, 1)),
    status_code      INTEGER NOT NULL DEFAULT 0,     -- 0: no answer came
    error            TEXT    NOT NULL DEFAULT '',
    response_snippet TEXT    NOT NULL DEFAULT '',
    duration_ms      INTEGER NOT NULL,
    at               INTEGER NOT NULL
) STRICT;
-- An endpoint's attempts newest first; also serves the cascading delete.
CREATE INDEX webhook_attempts_webhook_idx ON webhook_attempts (webhook_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhooks;
DROP TABLE processed_messages;
DROP TABLE notifications;

-- +goose Up
-- What the notification worker needs (persistence.Notifications and
-- persistence.Webhooks): users' inboxes, its de-duplication of side effects
-- and the webhook endpoints with their delivery log. Ids are ULIDs with the
-- "C" collation, so "newest first" is "id DESC" and pages are by id.

-- A user's inbox. (user_id, event_id) is the worker's idempotency key: a
-- redelivered event finds its notification there and inserts nothing.
CREATE TABLE notifications (
    id         text COLLATE "C" PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL,
    type       text        NOT NULL,
    event_id   text COLLATE "C" NOT NULL,
    payload    jsonb       NOT NULL,
    read_at    timestamptz,                      -- NULL while unread
    created_at timestamptz NOT NULL,
    CONSTRAINT notifications_user_event_key UNIQUE (user_id, event_id)
);
-- A user's inbox, newest first, paged by id.
CREATE INDEX notifications_user_idx ON notifications (user_id, id);
-- The same for unread ones only, and "mark all read". Read notifications
-- leave it, so it stays as small as the unread backlog and an unread page
-- never walks a history of read ones.
CREATE INDEX notifications_unread_idx ON notifications (user_id, id) WHERE read_at IS NULL;

-- Messages a consumer has handled, for side effects with no natural key
-- (an e-mail sent). at is kept so that old rows can be trimmed.
CREATE TABLE processed_messages (
    consumer text        NOT NULL,
    id       text COLLATE "C" NOT NULL,
    at       timestamptz NOT NULL,
    PRIMARY KEY (consumer, id)
);

-- Endpoints registered by admins. A handful of rows: WebhooksFor scans the
-- table, so event_types needs no index. secret is kept in clear: it signs
-- every delivery (HMAC), so it cannot be hashed.
CREATE TABLE webhooks (
    id                   text COLLATE "C" PRIMARY KEY,
    url                  text        NOT NULL,
    description          text        NOT NULL DEFAULT '',
    secret               text        NOT NULL,
    event_types          text[]      NOT NULL,  -- '*' means every type
    enabled              boolean     NOT NULL,
    consecutive_failures integer     NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    disabled_reason      text        NOT NULL DEFAULT '',  -- set when the worker disables it
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);

-- One row per delivery attempt: what an operator reads to see why an
-- endpoint fails. The table grows with traffic; its time-ordered primary
-- key lets old attempts be trimmed by id range without another index.
CREATE TABLE webhook_attempts (
    id               text COLLATE "C" PRIMARY KEY,
    webhook_id       text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id      text COLLATE "C" NOT NULL,
    event_id         text COLLATE "C" NOT NULL,
    event_type       text        NOT NULL,
    attempt          integer     NOT NULL CHECK (attempt >= 1),
    success          boolean     NOT NULL,
    status_code      integer     NOT NULL DEFAULT 0,  -- 0: no answer came
    error            text        NOT NULL DEFAULT '',
    response_snippet text        NOT NULL DEFAULT '',
    duration_ms      bigint      NOT NULL,
    at               timestamptz NOT NULL
);
-- An endpoint's attempts newest first; also serves the cascading delete.
CREATE INDEX webhook_attempts_webhook_idx ON webhook_attempts (webhook_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhooks;
DROP TABLE processed_messages;
DROP TABLE notifications;

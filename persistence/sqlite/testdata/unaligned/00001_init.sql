-- Outrider's initial SQLite schema: the Postgres schema of
-- persistence/migrations/00001_init.sql, translated. Differences:
--
--   * Timestamps are INTEGER microseconds since the Unix epoch, UTC: they
--     sort as numbers, compare exactly and carry Postgres's precision.
--   * JSON values (places, metadata, headers) are TEXT holding JSON.
--   * Ids use the BINARY collation (SQLite's default, stated explicitly), so
--     ordering by id is bytewise, the same as Go's string comparison.
--   * There is no reserve_driver function: Store.Commit runs its guarded
--     UPDATE itself, inside the commit's write transaction.
--   * E-mail uniqueness is on users.email_key, the e-mail lower-cased by Go
--     (SQLite's own lower() folds ASCII only).
--
-- Tables are STRICT, so a value of the wrong type is an error, as it would
-- be in Postgres, rather than silently stored.

-- +goose Up

-- The journal. The primary key is the fence of invariant I5.
CREATE TABLE journal (
    kind       TEXT    NOT NULL,
    entity_id  TEXT    NOT NULL COLLATE BINARY,
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    type       TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    command_id TEXT    NOT NULL DEFAULT '',
    at         INTEGER NOT NULL,
    PRIMARY KEY (kind, entity_id, seq)
) STRICT, WITHOUT ROWID;

-- The newest snapshot per entity (older ones are overwritten).
CREATE TABLE snapshots (
    kind      TEXT    NOT NULL,
    entity_id TEXT    NOT NULL COLLATE BINARY,
    seq       INTEGER NOT NULL,
    state     BLOB    NOT NULL,
    PRIMARY KEY (kind, entity_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE orders (
    id              TEXT    NOT NULL COLLATE BINARY PRIMARY KEY,
    customer_id     TEXT    NOT NULL COLLATE BINARY,
    driver_id       TEXT    COLLATE BINARY,          -- NULL when none
    pickup          TEXT    NOT NULL,                -- JSON
    dropoff         TEXT    NOT NULL,                -- JSON
    delivery_option TEXT    NOT NULL,
    scheduled_for   INTEGER,
    payment_status  TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    notes           TEXT    NOT NULL DEFAULT '',
    version         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- The primary key serves "id DESC" paging of the unfiltered list.
CREATE INDEX orders_customer_idx ON orders (customer_id, id);
CREATE INDEX orders_driver_idx ON orders (driver_id, id) WHERE driver_id IS NOT NULL;
CREATE INDEX orders_status_idx ON orders (status, id);

CREATE TABLE order_timeline (
    order_id   TEXT    NOT NULL COLLATE BINARY,
    seq        INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    by_user_id TEXT    NOT NULL DEFAULT '',
    by_role    TEXT    NOT NULL DEFAULT '',
    metadata   TEXT    NOT NULL DEFAULT '{}',        -- JSON object
    at         INTEGER NOT NULL,
    PRIMARY KEY (order_id, seq)
) STRICT, WITHOUT ROWID;
-- Serves the orders-by-day metric: its WHERE clause repeats this predicate
-- so the planner can use the partial index, which covers the query.
CREATE INDEX order_timeline_metric_idx ON order_timeline (at, status, seq)
    WHERE status IN ('pending', 'delivered', 'cancelled', 'failed');

CREATE TABLE users (
    id            TEXT    NOT NULL COLLATE BINARY PRIMARY KEY,
    email         TEXT    NOT NULL,
    email_key     TEXT    NOT NULL,                  -- strings.ToLower(email)
    name          TEXT    NOT NULL DEFAULT '',
    phone         TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE drivers (
    id               TEXT    NOT NULL COLLATE BINARY PRIMARY KEY REFERENCES users (id),
    available        INTEGER NOT NULL DEFAULT 0 CHECK (available IN (0, 1)),
    capacity         INTEGER NOT NULL DEFAULT 1 CHECK (capacity >= 1),
    active_orders    INTEGER NOT NULL DEFAULT 0,
    version          INTEGER NOT NULL,
    last_lat         REAL,
    last_lng         REAL,
    last_location_at INTEGER,
    updated_at       INTEGER NOT NULL,
    -- Invariant I2, enforced by the database whatever the writers do.
    CONSTRAINT drivers_active_orders_check CHECK (active_orders >= 0 AND active_orders <= capacity)
) STRICT, WITHOUT ROWID;

-- Messages to publish after commit; the relay marks them published.
-- pos is the insertion order: the relay publishes in it, and one order's
-- commits are serialised (by its actor and the single writer), so an
-- order's events are published in seq order (I4).
CREATE TABLE outbox (
    pos          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL COLLATE BINARY UNIQUE,
    subject      TEXT    NOT NULL,
    payload      BLOB    NOT NULL,                   -- JSON, kept byte for byte
    created_at   INTEGER NOT NULL,
    published_at INTEGER
) STRICT;
CREATE INDEX outbox_unpublished_idx ON outbox (pos) WHERE published_at IS NULL;

CREATE TABLE refresh_tokens (
    hash       TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    family_id  TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER,                            -- NULL while the first request runs
    header       TEXT,                               -- JSON object
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE refresh_tokens;
DROP TABLE outbox;
DROP TABLE drivers;
DROP TABLE users;
DROP TABLE order_timeline;
DROP TABLE orders;
DROP TABLE snapshots;
DROP TABLE journal;

-- Outrider's initial schema. Ids are text with the "C" collation so that
-- ordering by id is bytewise, the same as Go's string comparison (ids are
-- time-ordered, so "newest first" is "id DESC").

-- +goose Up

-- The journal: every domain event of every entity. The primary key is the
-- fence of invariant I5: a second activation of an actor that tries to write
-- a sequence number already written fails with a unique violation.
CREATE TABLE journal (
    kind       text        NOT NULL,
    entity_id  text COLLATE "C" NOT NULL,
    seq        bigint      NOT NULL CHECK (seq >= 1),
    type       text        NOT NULL,
    payload    bytea       NOT NULL,
    command_id text        NOT NULL DEFAULT '',
    at         timestamptz NOT NULL,
    PRIMARY KEY (kind, entity_id, seq)
);

-- The newest snapshot per entity (older ones are overwritten).
CREATE TABLE snapshots (
    kind      text   NOT NULL,
    entity_id text COLLATE "C" NOT NULL,
    seq       bigint NOT NULL,
    state     bytea  NOT NULL,
    PRIMARY KEY (kind, entity_id)
);

CREATE TABLE orders (
    id              text COLLATE "C" PRIMARY KEY,
    customer_id     text COLLATE "C" NOT NULL,
    driver_id       text COLLATE "C",            -- NULL when none
    pickup          jsonb       NOT NULL,
    dropoff         jsonb       NOT NULL,
    delivery_option text        NOT NULL,
    scheduled_for   timestamptz,
    payment_status  text        NOT NULL,
    status          text        NOT NULL,
    notes           text        NOT NULL DEFAULT '',
    version         bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
-- The primary key serves "id DESC" paging of the unfiltered list.
CREATE INDEX orders_customer_idx ON orders (customer_id, id);
CREATE INDEX orders_driver_idx ON orders (driver_id, id) WHERE driver_id IS NOT NULL;
CREATE INDEX orders_status_idx ON orders (status, id);

CREATE TABLE order_timeline (
    order_id   text COLLATE "C" NOT NULL,
    seq        bigint      NOT NULL,
    status     text        NOT NULL,
    by_user_id text        NOT NULL DEFAULT '',
    by_role    text        NOT NULL DEFAULT '',
    metadata   jsonb       NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL,
    PRIMARY KEY (order_id, seq)
);
-- Serves the orders-by-day metric (see OrdersByDay): its WHERE clause
-- repeats this predicate so the planner can use the partial index.
CREATE INDEX order_timeline_metric_idx ON order_timeline (at) INCLUDE (status, seq)
    WHERE status IN ('pending', 'delivered', 'cancelled', 'failed');

CREATE TABLE users (
    id            text COLLATE "C" PRIMARY KEY,
    email         text        NOT NULL,
    name          text        NOT NULL DEFAULT '',
    phone         text        NOT NULL DEFAULT '',
    role          text        NOT NULL,
    password_hash text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL
);
-- E-mail is unique case-insensitively; the store maps a violation of this
-- index (by name) to actors.ErrEmailTaken.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE drivers (
    id               text COLLATE "C" PRIMARY KEY REFERENCES users (id),
    available        boolean     NOT NULL DEFAULT false,
    capacity         integer     NOT NULL DEFAULT 1 CHECK (capacity >= 1),
    active_orders    integer     NOT NULL DEFAULT 0,
    version          bigint      NOT NULL,
    last_lat         double precision,
    last_lng         double precision,
    last_location_at timestamptz,
    updated_at       timestamptz NOT NULL,
    -- Invariant I2, enforced by the database whatever the writers do.
    CONSTRAINT drivers_active_orders_check CHECK (active_orders >= 0 AND active_orders <= capacity)
);

-- Messages to publish after commit; the relay marks them published.
CREATE TABLE outbox (
    id           text PRIMARY KEY,
    subject      text        NOT NULL,
    payload      bytea       NOT NULL,  -- JSON, kept byte for byte
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (created_at, id) WHERE published_at IS NULL;

CREATE TABLE refresh_tokens (
    hash       text PRIMARY KEY,
    user_id    text        NOT NULL,
    family_id  text        NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    status       integer,               -- NULL while the first request runs
    header       jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

-- reserve_driver takes one unit of a driver's capacity (I2) or raises:
-- SQLSTATE OR001 when the driver is offline or at capacity, OR002 when it
-- does not exist. Raising (rather than returning a count) aborts the
-- transaction of the commit it runs in, so a refused reservation writes
-- nothing and costs no extra round trip.
-- Its WHERE is the store's copy of driver.CanTake (actors/driver): it stays
-- in SQL because it is the guard of the commit transaction (I2), and the
-- conformance suite's ReservationGuardAgreesWithCanTake checks they agree.
-- +goose StatementBegin
CREATE FUNCTION reserve_driver(p_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE drivers SET active_orders = active_orders + 1
     WHERE id = p_id AND available AND active_orders < capacity;
    IF FOUND THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM drivers WHERE id = p_id) THEN
        RAISE EXCEPTION 'driver % unavailable', p_id USING ERRCODE = 'OR001';
    END IF;
    RAISE EXCEPTION 'driver % not found', p_id USING ERRCODE = 'OR002';
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION reserve_driver(text);
DROP TABLE idempotency_keys;
DROP TABLE refresh_tokens;
DROP TABLE outbox;
DROP TABLE drivers;
DROP TABLE users;
DROP TABLE order_timeline;
DROP TABLE orders;
DROP TABLE snapshots;
DROP TABLE journal;

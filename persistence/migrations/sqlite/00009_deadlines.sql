-- Deadlines: a command due at a time, armed by an actor's commit and
-- leased by the scheduler that claims it; see the Postgres migration of
-- the same name.

-- +goose Up
CREATE TABLE deadlines (
    id          TEXT    NOT NULL COLLATE BINARY PRIMARY KEY,
    kind        TEXT    NOT NULL,                  -- the entity kind the command goes to
    entity_id   TEXT    NOT NULL COLLATE BINARY,
    due_at      INTEGER NOT NULL,                  -- unix microseconds, UTC
    command     BLOB    NOT NULL,                  -- protobuf, the kind's command message
    lease_owner TEXT,                              -- NULL while nobody has claimed it
    lease_until INTEGER,                           -- unix microseconds, UTC
    CONSTRAINT deadlines_lease_check CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
) STRICT, WITHOUT ROWID;
-- Serves the claim ("due and unleased, earliest first") and NextDeadline;
-- not partial, since a lease that ran out frees its row without changing
-- it (see the Postgres migration).
CREATE INDEX deadlines_due_idx ON deadlines (due_at, id);

-- +goose Down
DROP TABLE deadlines;

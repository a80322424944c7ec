-- Deadlines (DESIGN.md §2, §7): a command due at a time, armed and removed
-- by an actor's commit (actors.Commit.Deadlines, DeadlinesDone) and fired
-- by a scheduler on any node, which leases the due ones it claims
-- (persistence.Deadlines). A row with a lease_until in the past is free
-- again: its claimer died or is late, and another node may claim it.

-- +goose Up
CREATE TABLE deadlines (
    id          text COLLATE "C" PRIMARY KEY,
    kind        text             NOT NULL,  -- the entity kind the command goes to
    entity_id   text COLLATE "C" NOT NULL,
    due_at      timestamptz      NOT NULL,
    command     bytea            NOT NULL,  -- protobuf, the kind's command message
    lease_owner text,                       -- NULL while nobody has claimed it
    lease_until timestamptz,
    CONSTRAINT deadlines_lease_check CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
);
-- Serves the claim, "due and unleased, earliest first": a scan from the
-- earliest due_at that stops at now, skipping the few rows leased at any
-- moment; and the earliest due time of all (NextDeadline). Not partial on
-- "lease_owner IS NULL": a lease that ran out makes its row claimable
-- again without changing it, so the claim must see leased rows too.
CREATE INDEX deadlines_due_idx ON deadlines (due_at, id);

-- +goose Down
DROP TABLE deadlines;

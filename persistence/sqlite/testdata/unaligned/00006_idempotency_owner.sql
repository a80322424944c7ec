-- The Postgres migration 00008_idempotency_owner: an Idempotency-Key claim
-- in progress belongs to the node that made it.

-- +goose Up
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX idempotency_keys_claims_idx ON idempotency_keys (owner) WHERE status IS NULL;

-- +goose Down
DROP INDEX idempotency_keys_claims_idx;
ALTER TABLE idempotency_keys DROP COLUMN owner;

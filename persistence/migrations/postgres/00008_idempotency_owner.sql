-- An Idempotency-Key claim in progress belongs to the node that made it
-- (its cluster member id), so the surviving nodes can release the claims
-- of a member that left instead of refusing retries for the claim timeout.

-- +goose Up
ALTER TABLE idempotency_keys ADD COLUMN owner text NOT NULL DEFAULT '';
CREATE INDEX idempotency_keys_claims_idx ON idempotency_keys (owner) WHERE status IS NULL;

-- +goose Down
DROP INDEX idempotency_keys_claims_idx;
ALTER TABLE idempotency_keys DROP COLUMN owner;

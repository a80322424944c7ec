-- +goose Up
-- Proofs of delivery: objects in blob storage recorded by an order event
-- (written in the order's commit); the worker adds the thumbnail later.
CREATE TABLE proofs (
    order_id      TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    content_type  TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    by_user_id    TEXT    NOT NULL,
    thumbnail_key TEXT,
    created_at    INTEGER NOT NULL,  -- unix microseconds, UTC
    PRIMARY KEY (order_id, key)
) STRICT;

-- +goose Down
DROP TABLE proofs;

-- +goose Up
-- Proofs of delivery: objects in blob storage recorded by an order event
-- (written in the order's commit); the worker adds the thumbnail later.
CREATE TABLE proofs (
    order_id      text COLLATE "C" NOT NULL,
    key           text COLLATE "C" NOT NULL,
    seq           bigint           NOT NULL,
    content_type  text             NOT NULL,
    size          bigint           NOT NULL,
    by_user_id    text COLLATE "C" NOT NULL,
    thumbnail_key text COLLATE "C",
    created_at    timestamptz      NOT NULL,
    PRIMARY KEY (order_id, key)
);

-- +goose Down
DROP TABLE proofs;

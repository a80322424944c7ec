-- An admin may switch an account off (PATCH /v1/users/:id active=false):
-- it cannot log in, and its tokens are refused, until switched on again.

-- +goose Up
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;

-- +goose Down
ALTER TABLE users DROP COLUMN active;

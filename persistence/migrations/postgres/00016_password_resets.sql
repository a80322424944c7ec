-- Password reset by e-mail (POST /v1/auth/password-reset): a token is
-- stored only as the hex SHA-256 of what the e-mail carried, valid until
-- expires_at and spent once (used_at). The retention worker deletes the
-- spent and expired ones a day later.

-- +goose Up
CREATE TABLE password_resets (
    hash       text PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id, created_at);
CREATE INDEX password_resets_expires_idx ON password_resets (expires_at);

-- +goose Down
DROP TABLE password_resets;

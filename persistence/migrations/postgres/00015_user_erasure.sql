-- DELETE /v1/users/:id erases an account's personal data: its users row
-- stays (orders keep the id as their customer or driver), with erased_at
-- set, the e-mail replaced by 'erased:' || id and name, phone and
-- password hash empty. An order's redaction deletes the notifications
-- about it (their messages quote its addresses): an index on event_id
-- finds them by the order's prefix ('order:<id>:').

-- +goose Up
ALTER TABLE users ADD COLUMN erased_at timestamptz;
CREATE INDEX notifications_event_idx ON notifications (event_id);

-- +goose Down
DROP INDEX notifications_event_idx;
ALTER TABLE users DROP COLUMN erased_at;

-- +goose Up
-- Driver positions, appended in batches (one transaction per flush).
CREATE TABLE location_history (
    driver_id TEXT    NOT NULL,
    at        INTEGER NOT NULL,  -- unix microseconds, UTC
    lat       REAL    NOT NULL,
    lng       REAL    NOT NULL,
    heading   REAL,
    speed     REAL,
    accuracy  REAL
) STRICT;
CREATE INDEX location_history_driver_at ON location_history (driver_id, at);

-- +goose Down
DROP TABLE location_history;

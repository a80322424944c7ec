-- +goose Up
-- Driver positions, appended in batches by the location recorder (one
-- COPY per flush, not one INSERT per fix); read back as an order's trail.
CREATE TABLE location_history (
    driver_id text COLLATE "C"  NOT NULL,
    at        timestamptz       NOT NULL,
    lat       double precision  NOT NULL,
    lng       double precision  NOT NULL,
    heading   double precision,
    speed     double precision,
    accuracy  double precision
);
CREATE INDEX location_history_driver_at ON location_history (driver_id, at);

-- +goose Down
DROP TABLE location_history;

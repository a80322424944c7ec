-- Trace context on the outbox (issue #15): the span that committed a
-- message, as a W3C traceparent, which the relay publishes as the NATS
-- message's traceparent header; '' when the command was not traced.

-- +goose Up
ALTER TABLE outbox ADD COLUMN trace text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE outbox DROP COLUMN trace;

-- OpenTelemetry tracing (shared/tracing.py): the trace a request began in, which every later
-- step continues, and the context an outbox row's writer chose for its event (else the relay
-- takes the request's). NULL while tracing is off; adding a NULL column rewrites nothing.
ALTER TABLE auth_requests ADD COLUMN traceparent text;
ALTER TABLE outbox ADD COLUMN traceparent text;

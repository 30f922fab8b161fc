-- An outbox row the broker keeps refusing (an event no queue takes) is retried with back-off
-- and, past a few attempts, parked with its error so later events keep flowing. An operator
-- lists parked rows (ciba-admin outbox list) and sends them again (ciba-admin outbox retry).
ALTER TABLE outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error text;
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE outbox ADD COLUMN parked_at timestamptz;
-- The relay reads only rows that are not parked, oldest first.
CREATE INDEX outbox_relayable ON outbox (id) WHERE parked_at IS NULL;

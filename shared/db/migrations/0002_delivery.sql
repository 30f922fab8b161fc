-- Ping and push delivery, long polling, recovery of lost events.

-- A push client's token response, minted once and kept (encrypted) until it is delivered or
-- given up, so that a retried push carries the same tokens.
ALTER TABLE auth_requests ADD COLUMN push_payload_enc text;
-- What became of the callback to the client: null (none due), delivered, failed.
ALTER TABLE auth_requests ADD COLUMN delivery_state text
    CHECK (delivery_state IN ('delivered', 'failed', 'not_sent'));
-- How often the request-processor re-announced a request whose created event went unhandled.
ALTER TABLE auth_requests ADD COLUMN reannounced integer NOT NULL DEFAULT 0;

-- The recovery scan looks at pending requests by age.
CREATE INDEX auth_requests_pending_created ON auth_requests (created_at) WHERE status = 'pending';

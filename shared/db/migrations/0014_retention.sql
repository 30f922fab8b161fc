-- Retention (services/request_processor/retention.py): finished requests are deleted after
-- cibaRetentionDays, each leaving one audit row, kept for cibaAuditRetentionDays, that says
-- who asked whom, when, and how it ended. No foreign keys: the audit outlives the client and
-- the user it names.
CREATE TABLE auth_request_audit (
    id               uuid PRIMARY KEY,
    client_id        text NOT NULL,
    sub              text NOT NULL,
    delivery_mode    text NOT NULL,
    status           text NOT NULL,
    scope            text[] NOT NULL,
    acr              text,
    failure_reason   text,
    created_at       timestamptz NOT NULL,
    decided_at       timestamptz,
    tokens_issued_at timestamptz,
    archived_at      timestamptz NOT NULL
);
CREATE INDEX auth_request_audit_created ON auth_request_audit USING brin (created_at);
-- Requests and tokens are found by age. BRIN: rows arrive in time order, so a few pages of
-- summaries cover millions of rows, and keeping them costs next to nothing on the hot paths
-- (a B-tree would take an insert on every state change, none of which is a HOT update).
CREATE INDEX auth_requests_created_brin ON auth_requests USING brin (created_at);
CREATE INDEX tokens_issued_brin ON tokens USING brin (issued_at);

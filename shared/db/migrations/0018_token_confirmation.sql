-- Sender-constrained access tokens: the confirmation an access token is bound to (RFC 7800
-- "cnf"): {"x5t#S256": ...} for a client certificate (RFC 8705), {"jkt": ...} for a DPoP key
-- (RFC 9449). NULL for a bearer token. /userinfo and introspection read it from the record.
ALTER TABLE tokens ADD COLUMN cnf jsonb;
